"""The console in a real browser: Debian's headless Chromium (/usr/bin/chromium), driven by
Playwright for Python (which launches that binary; no browser is downloaded).

The page opens and goes live, a name registered after it loaded appears without a reload, a
method called through the form shows its result, the page's own JavaScript calls the API with
fetch, and the pools show their free slots. With CI=true these tests must run: a missing
Chromium or Playwright fails them instead of skipping them.

Also a script: ``python tests/test_gateway_browser.py docs/gateway-console.png`` starts a small
cluster and saves a screenshot of the console there (the README's picture).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # when run as a script

from conftest import scaled  # noqa: E402
from gateway_support import WAIT, Cluster, processes  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
# as root Chromium needs --no-sandbox; the rest keep it off the (closed) network and quiet
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
WAIT_MS = int(WAIT * 1000)


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip -- a failure when CI=true (the tests must run there)."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing = f"playwright is not installed ({exc})"
    if missing is None and not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing = f"{CHROMIUM} is missing (Debian package chromium)"
    if missing is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with processes() as spawn:
        made = Cluster(spawn)
        try:
            yield made
        finally:
            made.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, cluster: Cluster) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(cluster.gateway.url)
    page.wait_for_selector("#status.ok")  # the event stream is open
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_console_opens_live_with_the_exposed_names(page: Any, tmp_path: Path) -> None:
    assert page.title() == "zpyro console"
    assert page.locator("#status").inner_text() == "live"
    row = page.locator('#names tr[data-name="http.things"]')
    row.wait_for()
    assert "kind:test" in row.inner_text()
    assert page.locator('#names tr[data-name="hidden.things"]').count() == 0
    assert "name server 127.0.0.1:" in page.locator("#about").inner_text()
    shot = tmp_path / "console.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_a_name_registered_after_the_page_loaded_appears_without_a_reload(
    page: Any, cluster: Cluster
) -> None:
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded
    cluster.ns.register("http.arrived", cluster.uri, metadata={"fresh"})
    try:
        page.locator('#names tr[data-name="http.arrived"]').wait_for()
        page.locator('#feed li[data-kind="name.registered"]', has_text="http.arrived").wait_for()
    finally:
        cluster.ns.remove("http.arrived")
    page.locator('#names tr[data-name="http.arrived"]').wait_for(state="detached")
    assert page.evaluate("window.loadedOnce") is True


def test_a_method_called_through_the_form_shows_its_result(page: Any) -> None:
    page.fill("#call-name", "http.things")
    page.dispatch_event("#call-name", "change")  # loads the methods from $meta
    page.locator('#call-method option[value="add"]').wait_for(state="attached")
    page.select_option("#call-method", "add")
    page.fill("#call-args", "[20, 22]")
    page.click("#call-submit")
    page.locator("#call-status.ok").wait_for()
    assert page.locator("#call-result").inner_text() == "42"
    assert page.locator("#call-status").inner_text().startswith("200")
    # a failing method: its exception, as JSON, and the status
    page.select_option("#call-method", "fail")
    page.fill("#call-args", "[]")
    page.click("#call-submit")
    page.locator("#call-status.bad").wait_for()
    assert "failed on purpose" in page.locator("#call-result").inner_text()
    # clicking a name in the list fills the form
    page.locator('#names tr[data-name="http.things"] a').click()
    page.locator('#call-method option[value="motto"]').wait_for(state="attached")
    assert page.input_value("#call-name") == "http.things"


def test_the_pages_own_javascript_calls_the_api_with_fetch(page: Any) -> None:
    out = page.evaluate(
        """async () => {
            const r = await zpyro.call("http.things", "pair", ["a"], {b: 2},
                                       {correlationId: "from-the-browser"});
            const seen = await zpyro.call("http.things", "correlation", [], {},
                                          {correlationId: "from-the-browser"});
            const lines = [];
            const s = await zpyro.call("http.things", "count", [3], {},
                                       {onLine: (x) => lines.push(x)});
            const raw = await fetch("pyro/http.things/echo?x=plain");
            return {status: r.status, body: r.body, cid: r.correlationId, seen: seen.body,
                    lines: lines, streamed: s.body, plain: await raw.json()};
        }"""
    )
    assert out == {
        "status": 200,
        "body": ["a", 2],
        "cid": "from-the-browser",
        "seen": "from-the-browser",
        "lines": [0, 1, 2],
        "streamed": [0, 1, 2],
        "plain": "plain",
    }


def test_pools_show_their_daemons_and_free_slots(
    page: Any, cluster: Cluster, start_worker: Any
) -> None:
    worker = start_worker(cluster.broker, "http.pool", capacity=3)
    row = page.locator('#pools tr[data-pool="http.pool"]')
    row.wait_for(timeout=int(scaled(20) * 1000))
    assert "3 / 3" in row.locator("td.free").inner_text()
    assert str(worker.pid) in row.inner_text()
    page.locator('#feed li[data-kind="daemon.joined"]', has_text="http.pool").wait_for()


# -- the README's screenshot ------------------------------------------------------------------------


def screenshot(target: Path) -> None:
    """A cluster with a pool, a few names and some history, and a picture of its console."""
    import threading

    from conftest import PYTHON, Worker

    import zpyro

    sync_playwright = _browser_or_skip()
    with processes() as spawn:
        cluster = Cluster(spawn)
        program = str(Path(__file__).resolve().parent / "programs" / "brokered_worker.py")
        jobs = f"PYRO:http.jobs@{cluster.broker.location}"
        busy: list[threading.Thread] = []
        try:
            with sync_playwright() as pw:
                chromium = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = chromium.new_page(viewport={"width": 1280, "height": 720})
                page.goto(cluster.gateway.url)
                page.wait_for_selector("#status.ok")
                for capacity in (4, 2):  # joining after the page loaded: in the feed
                    Worker(
                        spawn(
                            [PYTHON, program, cluster.broker.endpoint, "http.jobs", str(capacity)]
                        )
                    )
                cluster.ns.register("http.reports", cluster.uri, metadata={"team:ops"})
                for _ in range(3):  # a few slots busy for a while
                    busy.append(threading.Thread(target=lambda: zpyro.Proxy(jobs).work("x", 8)))
                    busy[-1].start()
                page.locator("#pools td.free", has_text="3 / 6").wait_for()
                page.locator('#names tr[data-name="http.reports"]').wait_for()
                page.locator('#names tr[data-name="http.things"] a').click()
                page.locator('#call-method option[value="pair"]').wait_for(state="attached")
                page.select_option("#call-method", "pair")
                page.fill("#call-args", '["job-17"]')
                page.fill("#call-kwargs", '{"b": {"priority": 2}}')
                page.click("#call-submit")
                page.locator("#call-status.ok").wait_for()
                page.screenshot(path=str(target))
                chromium.close()
        finally:
            for thread in busy:
                thread.join()
            cluster.close()


if __name__ == "__main__":
    screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/gateway-console.png"))
