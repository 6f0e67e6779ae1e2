"""A manual check-in through the KR page's form moves its objective on the overview."""

import re

from playwright.sync_api import expect

from support import approved_kr, kr_body, wait_until


def objective_progress(page, base, objective):
    page.goto(f"{base}/")
    pct = page.locator(f'li.objective[data-objective="{objective}"] > .head > span.pct')
    return float(pct.get_attribute("data-progress"))


def test_a_manual_check_in_moves_the_objective_on_the_overview(okrd, new_page):
    base, t = okrd.base, okrd.tokens
    kr = approved_kr(okrd, t["kim"], t["leader"],
                     kr_body("pilots", "adoption", "growth", "kim", title="Teams in the pilot"))
    kim = new_page(base, t["kim"])
    before = objective_progress(kim, base, "adoption")

    kim.goto(f"{base}/key-results/{kr}")
    form = kim.locator(f'form[action="/key-results/{kr}/check-ins"]')
    form.locator('[name="value"]').fill("40")
    form.locator('[name="note"]').fill("four pilots signed")
    form.locator('[name="confidence"]').fill("0.7")
    form.get_by_role("button", name="Check in").click()
    expect(kim).to_have_url(re.compile(rf"/key-results/{kr}\?done=checked-in$"))
    expect(kim.locator("#check-ins")).to_contain_text("four pilots signed")
    expect(kim.locator("#check-ins")).to_contain_text("manual, by kim")

    # 40 of 0 → 100 is 40% of the objective's only KR.
    after = wait_until(lambda: (p := objective_progress(kim, base, "adoption")) > before and p,
                       timeout=30, what="the objective's progress to rise")
    assert abs(after - 0.4) < 1e-6, (before, after)
