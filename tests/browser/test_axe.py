"""axe-core (vendored in vendor/, MPL-2.0) finds no serious or critical
accessibility violation on any page. The pages forbid inline scripts
(CSP), so axe runs in a context that bypasses CSP: in the test, not the product."""

import datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support import approved_kr, current_quarter, kr_body, proposed_kr

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
CHART_KR = "axe-chart"
PROPOSED_KR = "axe-proposed"

# path, who looks at it (a leader sees every form; /sign-in is for people without a token)
PAGES = [
    ("/", "leader"),
    (f"/key-results/{CHART_KR}", "leader"),
    ("/review", "leader"),
    ("/sources", "leader"),
    ("/teams/growth", "leader"),
    ("/objectives/trust", "leader"),
    ("/key-results/new", "leader"),
    ("/sign-in", None),
]


@pytest.fixture(scope="module")
def content(okrd):
    """A KR with a chart of past check-ins and a proposal waiting for review."""
    t = okrd.tokens
    kr = approved_kr(okrd, t["kim"], t["leader"],
                     kr_body(CHART_KR, "trust", "growth", "kim", title="Support tickets answered",
                             target=500, unit="tickets"))
    # Spread over the period so far, so all five are drawn even on its first day.
    _, start, _ = current_quarter()
    now = datetime.datetime.now(datetime.timezone.utc)
    began = datetime.datetime.combine(start, datetime.time(), datetime.timezone.utc)
    for i, value in enumerate((40, 90, 160, 210, 260)):
        at = began + (now - began) * (i + 1) / 6
        okrd.api("POST", f"/key-results/{kr}/check-ins", t["kim"],
                 {"value": value, "observed_at": at.isoformat().replace("+00:00", "Z")}).expect(201)
    proposed_kr(okrd, t["kim"], kr_body(PROPOSED_KR, "trust", "growth", "kim",
                                        title="Faster first answers", unit="minutes",
                                        kind="decrease", start=60, target=15))
    return okrd


def serious(violations):
    """axe's serious and critical findings, one line per element."""
    return [f"{v['id']} ({v['impact']}): {n['target']}: {n['failureSummary'].strip()} [{v['help']}]"
            for v in violations if v["impact"] in ("serious", "critical") for n in v["nodes"]]


@pytest.mark.parametrize("path,who", PAGES, ids=[p for p, _ in PAGES])
def test_axe_finds_no_serious_violation(content, new_page, path, who):
    page = new_page(content.base, content.tokens[who] if who else None, bypass_csp=True)
    answer = page.goto(f"{content.base}{path}")
    assert answer.ok, f"{path}: {answer.status}"
    if path == f"/key-results/{CHART_KR}":
        expect(page.locator("figure svg circle.point")).to_have_count(5)
    if path == "/review":
        expect(page.locator(f'article.proposal[data-kr="{PROPOSED_KR}"]')).to_be_visible()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    found = serious(result["violations"])
    assert not found, f"{path}:\n" + "\n".join(found)
