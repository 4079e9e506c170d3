"""An administration knows who it exchanges with: node ids, endpoints, public keys, and its own keys."""

from __future__ import annotations

import base64
import json
import stat
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.kit.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from avance.exchange import keys, outbox, partners
from avance.harness.nodes import run_commands
from avance.store.engine import write
from avance.exchange.tables import exchange_alerts, exchange_outbox, exchange_partners
from tests.support import run_cli


def public_key() -> str:
    return base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def identify(node, node_id="SN-AVANCE"):
    with write(node.engine) as conn:
        return keys.init(conn, node.settings.data_dir, node_id)


def test_a_node_gets_its_identity_once_and_its_private_key_is_readable_by_its_user_only(node):
    key = identify(node)
    again = identify(node)
    assert again.kid == key.kid  # running init again changes nothing
    path = node.settings.data_dir / "exchange-keys" / f"{key.kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key.kid == keys.thumbprint(base64.urlsafe_b64decode(key.public_key + "="))
    with node.engine.connect() as conn:
        assert keys.node_id(conn) == "SN-AVANCE"
    with pytest.raises(Conflict), write(node.engine) as conn:
        keys.init(conn, node.settings.data_dir, "SN-OTHER")
    with pytest.raises(ValidationFailed), write(node.engine) as conn:
        keys.init(conn, node.settings.data_dir, "not a node id!")


def test_a_node_without_identity_says_how_to_set_it_up(node):
    with node.engine.connect() as conn, pytest.raises(ConfigurationError) as caught:
        keys.node_id(conn)
    assert "avance exchange init" in caught.value.message("en")


def test_rotating_the_key_keeps_the_old_one_usable_for_the_grace_period_only(node):
    first = identify(node)
    with write(node.engine) as conn:
        second = keys.rotate(conn, node.settings.data_dir, timedelta(days=3))
    with node.engine.connect() as conn:
        assert keys.current_key(conn).kid == second.kid != first.kid
        grace = keys.grace_key(conn)
        assert grace is not None and grace.kid == first.kid
        assert timedelta(days=2.9) < grace.expires_at - keys.now() <= timedelta(days=3)
        assert keys.grace_key(conn, keys.now() + timedelta(days=4)) is None
    with write(node.engine) as conn:  # a second rotation ends the first key's grace at once
        third = keys.rotate(conn, node.settings.data_dir, timedelta(days=3))
    with node.engine.connect() as conn:
        assert keys.current_key(conn).kid == third.kid
        assert keys.grace_key(conn).kid == second.kid
    assert keys.private_key(node.settings.data_dir, third.kid) is not None


def test_partners_are_registered_found_by_country_and_listed(node):
    identify(node)
    with write(node.engine) as conn:
        ci = partners.add(conn, node_id="CI-AVANCE", country="ci", endpoint="https://avance.douanes.ci/", public_key=public_key())
        partners.add(conn, node_id="ML-AVANCE", country="ML", endpoint="https://10.0.0.5:8000", public_key=public_key(), kid="ml-2026")
    assert ci.country == "CI" and ci.endpoint == "https://avance.douanes.ci"
    with node.engine.connect() as conn:
        assert [p.node_id for p in partners.list_partners(conn)] == ["CI-AVANCE", "ML-AVANCE"]
        assert partners.by_country(conn, "ml").keys[0].kid == "ml-2026"
        assert partners.node_for_country(conn, "CI") == "CI-AVANCE"
        assert partners.by_country(conn, "GH") is None
        with pytest.raises(NotFound):
            partners.node_for_country(conn, "GH")
        with pytest.raises(NotFound):
            partners.get(conn, "GH-AVANCE")


def test_the_registry_refuses_what_would_make_links_ambiguous(node):
    identify(node)
    with write(node.engine) as conn:
        partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint="https://ci.example", public_key=public_key())
    cases = [
        (Conflict, dict(node_id="CI-AVANCE", country="GH", endpoint="https://gh.example")),  # same node twice
        (Conflict, dict(node_id="CI-OTHER", country="CI", endpoint="https://ci2.example")),  # two nodes for one country
        (ValidationFailed, dict(node_id="SN-AVANCE", country="GH", endpoint="https://gh.example")),  # itself
        (ValidationFailed, dict(node_id="SN-2", country="SN", endpoint="https://sn.example")),  # its own administration
        (ValidationFailed, dict(node_id="GH-AVANCE", country="XX", endpoint="https://gh.example")),
        (ValidationFailed, dict(node_id="GH-AVANCE", country="GH", endpoint="ftp://gh.example")),
        (ValidationFailed, dict(node_id="GH-AVANCE", country="GH", endpoint="https://gh.example/?x=1")),
    ]
    for error, fields in cases:
        with pytest.raises(error), write(node.engine) as conn:
            partners.add(conn, public_key=public_key(), **fields)
    with pytest.raises(ValidationFailed), write(node.engine) as conn:
        partners.add(conn, node_id="GH-AVANCE", country="GH", endpoint="https://gh.example", public_key="bm90IGEga2V5")
    with node.engine.connect() as conn:
        assert [p.node_id for p in partners.list_partners(conn)] == ["CI-AVANCE"]


def test_a_partner_holds_two_keys_during_its_changeover_and_never_none(node):
    identify(node)
    with write(node.engine) as conn:
        partner = partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint="https://ci.example", public_key=public_key())
        old = partner.keys[0].kid
        new_key = public_key()
        partner = partners.add_key(conn, "CI-AVANCE", new_key)
        assert len(partner.keys) == 2
    with pytest.raises(Conflict), write(node.engine) as conn:
        partners.add_key(conn, "CI-AVANCE", public_key())  # a third key
    with pytest.raises(Conflict), write(node.engine) as conn:
        partners.add_key(conn, "CI-AVANCE", new_key)  # the same key again
    with write(node.engine) as conn:
        partner = partners.remove_key(conn, "CI-AVANCE", old)
    assert [k.kid for k in partner.keys] == [keys.thumbprint(keys.parse_public_key(new_key))]
    with pytest.raises(Conflict), write(node.engine) as conn:
        partners.remove_key(conn, "CI-AVANCE", partner.keys[0].kid)
    with pytest.raises(NotFound), write(node.engine) as conn:
        partners.remove_key(conn, "CI-AVANCE", old)


def test_a_partner_with_messages_waiting_is_removed_only_on_purpose_and_they_go_to_dead_letter(node):
    identify(node)
    payload = {"dataset": "offices", "action": "upsert", "records": [{"code": "SN-DKR-PORT", "name": "Dakar Port", "country": "SN", "kind": "port"}]}
    with write(node.engine) as conn:
        partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint="https://ci.example", public_key=public_key())
        outbox.enqueue(conn, to="CI-AVANCE", type="reference-data-update", payload=payload)
    with pytest.raises(Conflict) as caught, write(node.engine) as conn:
        partners.remove(conn, "CI-AVANCE")
    assert "--force" in caught.value.message("en")
    with write(node.engine) as conn:
        assert partners.remove(conn, "CI-AVANCE", force=True) == 1
    with node.engine.connect() as conn:
        assert conn.execute(select(exchange_outbox.c.state)).scalar_one() == "dead"
        assert conn.execute(select(exchange_alerts.c.kind, exchange_alerts.c.partner)).one() == ("dead_letter", "CI-AVANCE")
        assert conn.execute(select(func.count()).select_from(exchange_partners)).scalar_one() == 0


def test_a_partner_that_moved_its_system_is_reached_at_its_new_address_at_once(node):
    identify(node)
    with write(node.engine) as conn:
        partners.add(conn, node_id="CI-AVANCE", country="CI", endpoint="https://old.ci.example", public_key=public_key())
        conn.execute(exchange_partners.update().values(failures=7, next_attempt_at=keys.now() + timedelta(minutes=5)))
        partner = partners.update_endpoint(conn, "CI-AVANCE", "https://new.ci.example")
    assert partner.endpoint == "https://new.ci.example"
    with node.engine.connect() as conn:
        assert conn.execute(select(exchange_partners.c.failures, exchange_partners.c.next_attempt_at)).one() == (0, None)


# --- the commands ---------------------------------------------------------------------------------


def cli_env(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG="en")
    return env


def test_the_it_team_sets_up_identity_partners_and_key_changeovers_with_the_avance_command(tmp_path):
    gh_key, gh_new = public_key(), public_key()
    results = run_commands(
        cli_env(tmp_path),
        tmp_path,
        [
            ["init", "--country", "CI"],
            ["exchange", "init", "--node-id", "CI-AVANCE"],
            ["exchange", "identity", "--json"],
            ["partners", "add", "--node-id", "GH-AVANCE", "--country", "GH", "--endpoint", "https://avance.gra.gov.gh", "--public-key", gh_key],
            ["partners", "add-key", "--node-id", "GH-AVANCE", "--public-key", gh_new],
            ["partners", "list", "--json"],
            ["partners", "remove-key", "--node-id", "GH-AVANCE", "--kid", keys.thumbprint(keys.parse_public_key(gh_key))],
            ["partners", "update", "--node-id", "GH-AVANCE", "--endpoint", "https://avance2.gra.gov.gh"],
            ["exchange", "rotate-key", "--grace-days", "2"],
            ["exchange", "identity", "--json"],
            ["exchange", "status"],
            ["exchange", "status", "--json"],
            ["exchange", "alerts"],
            ["partners", "remove", "--node-id", "GH-AVANCE"],
            ["partners", "list"],
        ],
    )
    identity = json.loads(results[2][1])
    assert identity["node_id"] == "CI-AVANCE" and identity["country"] == "CI"
    assert keys.thumbprint(keys.parse_public_key(identity["public_key"])) == identity["kid"]
    listed = json.loads(results[5][1])
    assert [len(p["keys"]) for p in listed] == [2]
    rotated = json.loads(results[9][1])
    assert rotated["kid"] != identity["kid"] and rotated["previous"]["kid"] == identity["kid"]
    assert rotated["public_key"] in results[8][1]
    assert "GH-AVANCE" in results[10][1]
    assert json.loads(results[11][1])["partners"][0]["endpoint"] == "https://avance2.gra.gov.gh"
    assert "No partner registered" in results[14][1]


def run_main(args):
    code, _, err = run_cli(args)
    return code, err

@pytest.fixture
def initialised_dir(tmp_path, monkeypatch):
    from avance.kit.settings import get_settings

    run_commands(cli_env(tmp_path), tmp_path, [["init", "--country", "CI"], ["exchange", "init", "--node-id", "CI-AVANCE"]])
    monkeypatch.setenv("AVANCE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=50)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    node_id=st.one_of(words, st.just("GH-AVANCE")),
    country=st.one_of(words, st.sampled_from(["GH", "CI", "gh", "XX"])),
    endpoint=st.one_of(words, st.sampled_from(["https://gh.example", "http://", "javascript:alert(1)"])),
    key=st.one_of(words, st.just(public_key())),
)
def test_whatever_an_operator_types_partners_add_registers_or_refuses_in_one_line(initialised_dir, node_id, country, endpoint, key):
    from avance.bootstrap import open_node
    from avance.kit.settings import get_settings

    code, err = run_main(["partners", "add", f"--node-id={node_id}", f"--country={country}", f"--endpoint={endpoint}", f"--public-key={key}"])
    assert code in (0, 2), err
    assert "Traceback" not in err
    engine = open_node(get_settings()).engine
    with engine.connect() as conn:
        found = partners.find(conn, node_id)
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err
        else:
            assert found is not None and found.country == country.upper()
    if found is not None:
        with write(engine) as conn:
            partners.remove(conn, node_id, force=True)
    engine.dispose()
