"""A KR bound to a source: its chart gains a point each time the source's
value moves (the scheduler fetches every 2 s)."""

import re

from playwright.sync_api import expect

from support import fill_draft, wait_until


def test_the_chart_gains_points_as_the_source_moves(okrd, new_page):
    base, t, mock = okrd.base, okrd.tokens, okrd.mock
    kr = "visitors"
    mock.value = 1000
    kim = new_page(base, t["kim"])
    kim.goto(f"{base}/key-results/new")
    fill_draft(kim, {"id": kr, "title": "More monthly visitors", "objective": "traffic",
                     "kind": "increase", "start": "0", "target": "10000", "unit": "visitors",
                     "source": "web"})
    kim.get_by_role("button", name="Save draft").click()
    expect(kim).to_have_url(re.compile(rf"/key-results/{kr}\?done=created$"))
    kim.get_by_role("button", name="Propose for review").click()
    expect(kim.locator("span.st.proposed")).to_be_visible()

    lee = new_page(base, t["leader"])
    lee.goto(f"{base}/key-results/{kr}")
    lee.get_by_role("button", name="Approve").click()
    expect(lee.locator("span.st.approved")).to_be_visible()
    assert okrd.api("GET", f"/key-results/{kr}", t["kim"]).expect(200)["source"]["use"] == "web"

    points = kim.locator("figure svg circle.point")

    def drawn():
        kim.goto(f"{base}/key-results/{kr}")
        return points.count()

    # Approval fetches at once: the first value is drawn within seconds.
    first = wait_until(drawn, timeout=30, interval=1, what="the first point")
    # A value equal to the last one may not be stored: move it every time.
    count = first
    for value in (1500, 2200, 3100):
        mock.value = value
        count = wait_until(lambda: (n := drawn()) > count and n, timeout=30, interval=1,
                           what=f"a point for {value} (had {count})")
    assert count >= first + 3
    # The newest value is the KR's value now.
    expect(kim.locator("div.card").first).to_contain_text("3100 visitors")
