"""Fixtures of the browser suite: headless Debian Chromium (Playwright), the
real okrd binary as a daemon with a mock metric source, and tokens. A
failed test's report carries every running daemon's log and what each open
page showed."""

import pytest
from playwright.sync_api import expect, sync_playwright

from support import Daemon, Demo, MockSource, sign_in

# Playwright cannot download its own browser here: Debian's Chromium it is.
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium phones home at start, and
# on a closed network its own connections are then refused.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

# Waits for what a page shows; a debug build on 2 busy cores is slow.
expect.set_options(timeout=20_000)

# Daemons and browser contexts alive now, for the report of a failed test.
RUNNING = []
CONTEXTS = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for d in RUNNING:
        log = d.log()
        report.sections.append((f"okrd log: {d.name} (last 200 lines)",
                                "\n".join(log.splitlines()[-200:])))
    for ctx in CONTEXTS:
        for p in ctx.pages:
            try:
                text = p.locator("body").inner_text(timeout=2_000)
                report.sections.append((f"page {p.url}", text[:3000]))
            except Exception as e:  # a closed or crashed page says nothing more
                report.sections.append((f"page {p.url}", f"(unreadable: {e})"))


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """`new_page(base, token=None, bypass_csp=False)`: a page in a fresh
    context (its own cookies), signed in through /sign-in when a token is
    given. Each context is closed when the test ends."""
    made = []

    def make(base, token=None, bypass_csp=False, width=1280, height=900):
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  bypass_csp=bypass_csp)
        ctx.set_default_timeout(30_000)
        made.append(ctx)
        CONTEXTS.append(ctx)
        page = ctx.new_page()
        if token:
            sign_in(page, base, token)
        return page

    yield make
    for ctx in made:
        CONTEXTS.remove(ctx)
        ctx.close()


def running(daemon):
    """Starts `daemon`, known to the failure report until it stops."""
    daemon.start()
    RUNNING.append(daemon)
    return daemon


def stopped(daemon):
    if daemon in RUNNING:
        RUNNING.remove(daemon)
    daemon.stop()


@pytest.fixture(scope="session")
def mock_source():
    source = MockSource(value=100)
    yield source
    source.stop()


@pytest.fixture(scope="session")
def okrd(mock_source):
    """The daemon most tests share: private web app, source `web` reading
    the mock, and tokens in `okrd.tokens`: admin ada, leader lee, member kim
    of team growth, viewer vic."""
    d = Daemon("private", status_page="private", source_url=mock_source.url)
    try:
        running(d)
        d.mock = mock_source
        d.tokens = {
            "admin": d.token("admin", "ada"),
            "leader": d.token("leader", "lee"),
            "kim": d.token("member", "kim", team="growth"),
            "viewer": d.token("viewer", "vic"),
        }
        yield d
    finally:
        stopped(d)


@pytest.fixture(scope="module")
def public_okrd():
    """A second daemon whose web app anyone may read (`status_page = "public"`)."""
    d = Daemon("public", status_page="public")
    try:
        yield running(d)
    finally:
        stopped(d)


@pytest.fixture(scope="module")
def demo():
    """`okrd demo`, with its link and tokens as it printed them."""
    d = Demo()
    try:
        yield running(d)
    finally:
        stopped(d)
