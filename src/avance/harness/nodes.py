"""Real nodes on this machine: one ``avance serve`` process per administration, each with its own
data folder, SQLite database and port on 127.0.0.1, all partnered with each other.

Used by the multi-node tests and by ``avance exchange selftest``::

    with Cluster(tmp_path, countries=("CI", "GH", "ML")) as cluster:
        ci, gh, ml = cluster.nodes
        with ci.client("admin") as http:
            http.post("/exchange/reference-data", json={...})
        cluster.wait_drained(30)

Every node is set up with the real ``avance`` commands (``init --country``, ``exchange init``,
``users create`` for admin, officer, analyst and ``broker`` (a declarant acting for party id
``<CC>0012345A7``), ``exchange identity --json``, then
``partners add`` for every other node). To save interpreter start-ups, the commands of one node
run one after the other in a single Python process (``python -m avance.harness.nodes``), through
the same entry point as the ``avance`` command. Processes are stopped on exit, on Ctrl-C, and
(on Linux) when the parent process dies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from avance.exchange.tables import exchange_outbox
from avance.store.engine import make_engine

ROLES = {"admin": "admin", "officer": "officer", "analyst": "analyst", "broker": "declarant"}
DEFAULT_ENV = {
    "AVANCE_EXCHANGE_RETRY_MAX_SECONDS": "2",
    "AVANCE_RATE_LIMIT_TOKEN_PER_MINUTE": "0",
    "AVANCE_RATE_LIMIT_ADDRESS_PER_MINUTE": "0",
    "AVANCE_RATE_LIMIT_INBOX_PER_MINUTE": "0",
}
"""Retries capped at 2 s so that a restarted node is reached again quickly in scenarios; no rate
limit, since every node of the harness calls the others from 127.0.0.1."""


class HarnessError(RuntimeError):
    """A node could not be set up or started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the node is killed if the process that started it dies (no orphan servers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class NodeProc:
    """One node: its folder, database, port, tokens, and its ``avance serve`` process."""

    country: str
    node_id: str
    data_dir: Path
    port: int
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    public_key: str = ""
    kid: str = ""
    process: subprocess.Popen[bytes] | None = None
    _engine: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'avance.db').as_posix()}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, who: str | None = None, lang: str = "en", timeout: float = 30.0) -> httpx.Client:
        headers = {"Accept-Language": lang}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def engine(self) -> Any:
        """An engine on the node's database, for reading what it stored."""
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one ``avance`` command for this node (its own process)."""
        result = subprocess.run([sys.executable, "-m", "avance", *args], env=self.env, cwd=self.data_dir, capture_output=True, text=True, timeout=timeout)
        return result

    def start(self, timeout: float = 60) -> None:
        """Start ``avance serve`` and wait until /health answers."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start ``avance serve`` (call from a thread that outlives the node: on Linux the node
        is killed when the thread that started it ends)."""
        if self.alive():
            return
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "avance", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /health answers 200."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise HarnessError(f"{self.node_id} exited with code {self.process.returncode}: {self._log_tail()}")
                try:
                    if http.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise HarnessError(f"{self.node_id} did not answer on {self.url} within {timeout} s: {self._log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the node dies at once, in the middle of whatever it was doing."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 10) -> None:
        """A clean stop (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def restart(self, timeout: float = 60) -> None:
        if self.alive():
            self.kill()
        self.start(timeout)

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return ""


class Cluster:
    """Several real nodes, all partners of each other; a context manager that always cleans up."""

    def __init__(
        self,
        tmp_dir: Path,
        countries: tuple[str, ...] = ("CI", "GH", "ML"),
        *,
        env: dict[str, str] | None = None,
        start_timeout: float = 90,
        first_port: int | None = None,
    ) -> None:
        """Nodes for ``countries`` under ``tmp_dir``; they listen on ``first_port`` and the ports
        after it, or on free ports when it is None."""
        if len(set(countries)) != len(countries) or len(countries) < 2:
            raise ValueError("a cluster needs at least two different countries")
        if first_port is not None and not 1 <= first_port <= 65536 - len(countries):
            raise ValueError("the nodes' ports must lie between 1 and 65535")
        self.tmp_dir = Path(tmp_dir)
        self.countries = tuple(c.upper() for c in countries)
        self.start_timeout = start_timeout
        base = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
        base.update(DEFAULT_ENV)
        base.update(env or {})
        self.nodes: list[NodeProc] = []
        for position, country in enumerate(self.countries):
            data_dir = self.tmp_dir / f"node-{country.lower()}"
            node_env = dict(base, AVANCE_DATA_DIR=str(data_dir), AVANCE_LANG="en")
            port = first_port + position if first_port is not None else _free_port()
            self.nodes.append(NodeProc(country, f"{country}-AVANCE", data_dir, port, node_env))
        self._previous_sigterm: Any = None

    # --- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self._install_sigterm()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _install_sigterm(self) -> None:
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.getsignal(signal.SIGTERM)

            def _terminate(signum: int, frame: Any) -> None:
                raise KeyboardInterrupt  # unwinds through __exit__, which stops the nodes

            signal.signal(signal.SIGTERM, _terminate)

    def start(self) -> None:
        for node in self.nodes:
            node.data_dir.mkdir(parents=True, exist_ok=True)
        runners = {node.node_id: CommandRunner(node.env, node.data_dir) for node in self.nodes}
        try:
            with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
                list(pool.map(lambda n: self._set_up(n, runners[n.node_id]), self.nodes))
                list(pool.map(lambda n: self._partner(n, runners[n.node_id]), self.nodes))
        finally:
            for runner in runners.values():
                runner.close()
        for node in self.nodes:
            node.spawn()
        for node in self.nodes:
            node.wait_ready(self.start_timeout)

    def close(self) -> None:
        for node in self.nodes:
            try:
                node.stop()
            except Exception:
                node.kill()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    # --- set-up with the real commands --------------------------------------------------------

    def _set_up(self, node: NodeProc, runner: CommandRunner) -> None:
        commands = [
            ["init", "--country", node.country],
            ["exchange", "init", "--node-id", node.node_id],
            *[["users", "create", "--name", name, "--role", role, *(["--party-id", f"{node.country}0012345A7"] if role == "declarant" else [])] for name, role in ROLES.items()],
            ["exchange", "identity", "--json"],
        ]
        results = runner.run(commands)
        for (name, _), (_, out, _) in zip(ROLES.items(), results[2:6]):
            node.tokens[name] = out.strip().splitlines()[-1]
        identity = json.loads(results[6][1])
        node.public_key, node.kid = identity["public_key"], identity["kid"]
        self.prepare(node, runner)

    def prepare(self, node: NodeProc, runner: CommandRunner) -> None:
        """Hook for more set-up of a node before it starts (e.g. ``runner.run([["rates", "load", F]])``):
        the node is initialised, its keys and users exist, its partners are not added yet."""

    def _partner(self, node: NodeProc, runner: CommandRunner) -> None:
        commands = [
            ["partners", "add", "--node-id", other.node_id, "--country", other.country, "--endpoint", other.url, "--public-key", other.public_key]
            for other in self.nodes
            if other is not node
        ]
        runner.run(commands)

    # --- helpers for scenarios ----------------------------------------------------------------

    def node(self, country: str) -> NodeProc:
        return next(n for n in self.nodes if n.country == country.upper())

    def pending(self) -> dict[str, int]:
        """Messages still waiting in each node's outbox."""
        counts = {}
        for node in self.nodes:
            with node.engine().connect() as conn:
                counts[node.node_id] = int(conn.execute(select(func.count()).select_from(exchange_outbox).where(exchange_outbox.c.state == "pending")).scalar_one())
        return counts

    def wait_drained(self, timeout: float) -> None:
        """Until every outbox has nothing pending (TimeoutError with the counts otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.pending()
            if not any(counts.values()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"outboxes not drained after {timeout} s: {counts}")
            time.sleep(0.1)


BATCH_FLAG = "--batch"
"""``python -m avance --batch`` reads batches of commands, one JSON list per line (``avance.__main__``)."""


class CommandRunner:
    """A ``python -m avance --batch`` process that runs ``avance`` commands for one node, batch after
    batch: one interpreter start-up for many commands (see ``avance.__main__``)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "avance", BATCH_FLAG],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, commands: list[list[str]]) -> list[tuple[int, str, str]]:
        """(code, stdout, stderr) of each command; HarnessError when one fails."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(commands) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            raise HarnessError(f"command runner died: {error.strip()[-500:]}")
        outcomes = [tuple(r) for r in json.loads(line)]
        for command, (code, _, err) in zip(commands, outcomes):
            if code != 0:
                raise HarnessError(f"`avance {' '.join(command)}` failed ({code}): {err.strip()}")
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def run_commands(env: dict[str, str], cwd: Path, commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Run ``avance`` commands one after the other in one fresh process."""
    runner = CommandRunner(env, cwd)
    try:
        return runner.run(commands)
    finally:
        runner.close()
