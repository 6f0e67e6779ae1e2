"""`okrd demo` as a newcomer meets it: one click on the printed link signs
in as the leader. Saves the README's screenshots (overview, a KR page with
history and forecast, the review queue) into $OKRD_SCREENSHOTS, else into a
temp dir."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from support import kr_body, proposed_kr, wait_until

# A KR of the demo's (src/demo/okrs.toml) whose source backfills the
# quarter's past days, so its page has a long history and a forecast. (The
# web traffic KR has neither: its source cannot answer for a past day.)
HISTORY_KR = "failed-passwords"


@pytest.fixture
def shots(tmp_path):
    out = Path(os.environ.get("OKRD_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


# The texts in <main> that reach past its content box's right edge: a column
# too narrow for what it holds spills its text over the margin, or makes the
# page scroll sideways (and its screenshot wider than 1280 px).
SPILLED = """() => {
  const main = document.querySelector("main");
  const edge = main.getBoundingClientRect().right - parseFloat(getComputedStyle(main).paddingRight);
  const out = [];
  const walk = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const right = range.getBoundingClientRect().right;
    if (right > edge + 1) out.push(`${n.textContent.trim()} (to ${Math.round(right)} px, edge ${Math.round(edge)})`);
  }
  return out;
}"""


def shoot(page, path):
    """A full-page screenshot, once nothing spills out of the page's width."""
    spilled = page.evaluate(SPILLED)
    assert not spilled, f"{page.url}: text past the right edge: {spilled}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"{page.url} is {width} px wide at a 1280 px window"
    page.screenshot(path=str(path), full_page=True)


def test_the_demo_link_signs_in_once_and_the_screenshots_are_taken(demo, new_page, shots):
    page = new_page(demo.base, width=1280, height=800)
    page.goto(demo.link)
    expect(page).to_have_url(f"{demo.base}/")
    expect(page.locator(".who")).to_contain_text("(leader)")
    expect(page.locator("li.objective").first).to_be_visible()

    # The link works once: a second browser opening it is not signed in.
    other = new_page(demo.base)
    answer = other.goto(demo.link)
    assert answer.status == 401
    expect(other.locator("p.notice")).to_contain_text("used already")
    expect(other.locator(".who")).not_to_contain_text("Signed in")

    # A proposal for the review queue, from the demo's member (team auth).
    kr = proposed_kr(demo, demo.tokens["member"],
                     kr_body("sso-logins", "reduce-opex", "auth", "sam@acme.example",
                             title="Half of all logins through single sign-on",
                             start=10, target=50, unit="%"))

    # The demo backfills weeks of history within seconds of starting, then
    # fetches a live value (every 5 s): the screenshots show both.
    points = page.locator("figure svg circle.point")
    newest = page.locator("#check-ins tbody tr").first

    def history():
        page.goto(f"{demo.base}/key-results/{HISTORY_KR}")
        return (points.count() > 20
                and page.get_by_text("Forecast at the period's end").count() > 0
                and "source auth-prometheus" in newest.inner_text())

    wait_until(history, timeout=60, interval=1,
               what="the demo's backfilled history, forecast and a live value")
    # Every source has answered once, so no KR says "not fetched yet".
    def all_fetched():
        page.goto(f"{demo.base}/")
        return page.get_by_text("not fetched yet").count() == 0

    wait_until(all_fetched, timeout=60, interval=1, what="every demo source's first value")
    expect(page.locator(f'li.kr[data-kr="{HISTORY_KR}"]')).to_be_visible()
    shoot(page, shots / "overview.png")

    page.goto(f"{demo.base}/key-results/{HISTORY_KR}")
    expect(page.locator("figure svg")).to_be_visible()
    shoot(page, shots / "key-result.png")

    page.goto(f"{demo.base}/review")
    expect(page.locator(f'article.proposal[data-kr="{kr}"]')).to_be_visible()
    shoot(page, shots / "review.png")

    for name in ("overview", "key-result", "review"):
        assert (shots / f"{name}.png").stat().st_size > 10_000, name
