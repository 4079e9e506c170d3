"""The multi-node harness: an operator who runs `avance exchange selftest --port P` or
`avance demo --nodes 3 --port P` behind a firewall knows which ports the nodes take."""

from __future__ import annotations

import pytest

from avance.harness.nodes import Cluster


def test_the_nodes_take_the_first_port_given_and_the_ports_after_it(tmp_path):
    cluster = Cluster(tmp_path, ("CI", "GH", "ML"), first_port=47100)
    assert [(n.country, n.port) for n in cluster.nodes] == [("CI", 47100), ("GH", 47101), ("ML", 47102)]
    assert [n.url for n in cluster.nodes] == [f"http://127.0.0.1:{p}" for p in (47100, 47101, 47102)]


def test_without_a_port_each_node_gets_a_free_one(tmp_path):
    ports = [n.port for n in Cluster(tmp_path, ("CI", "GH")).nodes]
    assert len(set(ports)) == 2 and all(1024 <= p <= 65535 for p in ports)


@pytest.mark.parametrize("first_port", [0, 65534])
def test_ports_beyond_the_range_are_refused(tmp_path, first_port):
    with pytest.raises(ValueError):
        Cluster(tmp_path, ("CI", "GH", "ML"), first_port=first_port)
