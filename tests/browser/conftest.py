"""Browser tests: Debian's Chromium driven by Playwright against a node built by ``avance demo``
and served by ``avance serve``, both as real processes on 127.0.0.1.

Without a browser these tests are skipped, and the run says so; ``.ci/run`` installs Chromium and
sets ``AVANCE_TEST_BROWSER`` to its path, which makes them mandatory. Screenshots of every page
go to ``var/screenshots/<run>/`` (the folder is printed at the end of the run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ROOT, free_port

REQUIRED = os.environ.get("AVANCE_TEST_BROWSER")
CHROMIUM = REQUIRED or shutil.which("chromium") or "/usr/bin/chromium"
RUN = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
SCREENSHOTS = ROOT / "var" / "screenshots" / RUN
_used = False


def _problem() -> str | None:
    """None when a browser can be driven, else why not."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401  (only to know whether it is installed)
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    problem = _problem()
    if problem is not None and not REQUIRED:
        terminalreporter.write_line(f"Browser tests were SKIPPED: {problem}. Run .ci/run, or install Chromium, to include them.", yellow=True)
    elif _used:
        terminalreporter.write_line(f"Browser screenshots: {SCREENSHOTS}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    global _used
    problem = _problem()
    if problem is not None:
        if REQUIRED:
            pytest.fail(f"AVANCE_TEST_BROWSER is set but the browser cannot run: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (optional: skipped above when missing)

    _used = True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Site:
    """A demo node served over HTTP, with its users' names, roles and passwords."""

    url: str
    data_dir: Path
    users: dict[str, dict[str, Any]]

    def avance(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
        env.update(AVANCE_DATA_DIR=str(self.data_dir), AVANCE_LANG="en")
        return subprocess.run([sys.executable, "-m", "avance", *args], capture_output=True, text=True, env=env, cwd=self.data_dir, timeout=300)


@pytest.fixture(scope="session")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A node built by ``avance demo`` (a few hundred declarations) and served by ``avance serve``."""
    data_dir = tmp_path_factory.mktemp("demo-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(data_dir), AVANCE_LANG="en")
    port = free_port()
    built = subprocess.run(
        [sys.executable, "-m", "avance", "demo", "--data-dir", str(data_dir), "--declarations", "500", "--history", "3000", "--no-serve", "--port", str(port)],
        capture_output=True, text=True, env=env, cwd=data_dir, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    credentials = json.loads((data_dir / "demo-credentials.json").read_text(encoding="utf-8"))
    server = subprocess.Popen(
        [sys.executable, "-m", "avance", "serve", "--port", str(port)],
        env=env, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"avance serve did not start: {server.stderr.read()[-2000:] if server.stderr else ''}")
            time.sleep(0.2)
        yield Site(url=url, data_dir=data_dir, users={u["name"]: u for u in credentials["users"]})
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def screenshot(page: Any, name: str) -> Path:
    """Write a full-page screenshot of ``page`` to this run's folder."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class Visit:
    """One browser context (one person at one browser): what it fetched, from where, and how much."""

    page: Any
    site: Site
    lang: str
    bytes: int = 0
    outside: list[str] | None = None

    def sign_in(self, name: str) -> None:
        """Open the node's address and sign in as ``name`` with the demo's password, and the code
        of its second factor when the page asks for one (the demo's ``totp_secret``)."""
        self.page.goto(self.site.url + "/")
        self.page.fill("#username", name)
        self.page.fill("#password", self.site.users[name]["password"])
        with self.page.expect_navigation():
            self.page.click("form[action='/signin'] button[type=submit]")
        if "/signin/code" in self.page.url:
            import pyotp  # noqa: PLC0415  (only the second factor's step needs it)

            # a code is accepted once, for its 30-second step or the next: a later sign-in takes a later step
            user = self.site.users[name]
            step = max(int(time.time()) // 30, user.get("last_totp_step", -1) + 1)
            while step > int(time.time()) // 30 + 1:
                time.sleep(1)
            user["last_totp_step"] = step
            self.page.fill("#code", pyotp.TOTP(user["totp_secret"]).at(step * 30))
            with self.page.expect_navigation():
                self.page.click("form[action='/signin/code'] button[type=submit]")

    def weigh(self) -> int:
        """Bytes received since the last call (bodies as sent, headers included)."""
        received, self.bytes = self.bytes, 0
        return received


@pytest.fixture
def visit(browser: Any, site: Site) -> Iterator[Any]:
    """Open a fresh browser context in a language (``visit("fr")``): no cache, no cookie."""
    contexts = []

    def open_(lang: str) -> Visit:
        context = browser.new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang], viewport={"width": 1366, "height": 768})
        contexts.append(context)
        page = context.new_page()
        visit = Visit(page=page, site=site, lang=lang, outside=[])

        def finished(request: Any) -> None:
            sizes = request.sizes()
            visit.bytes += int(sizes.get("responseBodySize", 0)) + int(sizes.get("responseHeadersSize", 0))

        def requested(request: Any) -> None:
            if not (request.url.startswith(site.url + "/") or request.url.startswith("data:") or request.url == site.url):
                visit.outside.append(request.url)  # type: ignore[union-attr]

        page.on("requestfinished", finished)
        page.on("request", requested)
        return visit

    yield open_
    for context in contexts:
        context.close()


def serious_violations(page: Any) -> list[str]:
    """The accessibility violations axe-core rates serious or critical on ``page``."""
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415  (a dev dependency of the browser tests only)

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
