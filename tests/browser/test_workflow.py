"""The bottom-up workflow in the browser: a member drafts and proposes, a
leader reviews in the queue, the member answers the review."""

import re

from playwright.sync_api import expect

from support import fill_draft, kr_body, proposed_kr


def test_a_member_drafts_a_key_result_fixes_a_bad_value_and_proposes_it(okrd, new_page):
    base = okrd.base
    page = new_page(base, okrd.tokens["kim"])
    page.get_by_role("link", name="New key result").click()
    expect(page).to_have_url(f"{base}/key-results/new")
    # The member's name and team are filled in already.
    expect(page.locator("#owner")).to_have_value("kim")
    expect(page.locator("#team")).to_have_value("growth")

    fill_draft(page, {"id": "signups", "title": "More sign-ups", "objective": "reach",
                      "kind": "increase", "start": "0", "target": "lots", "unit": "sign-ups"})
    page.get_by_role("button", name="Save draft").click()
    # The API's objection, next to the field, with what was typed kept.
    expect(page.locator("p.field-error#target-error")).to_contain_text("Enter a number")
    expect(page.locator("#target")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#target")).to_have_attribute("aria-describedby", "target-error")
    expect(page.locator("#title")).to_have_value("More sign-ups")
    okrd.api("GET", "/key-results/signups", okrd.tokens["kim"]).expect(404)

    page.locator("#target").fill("100")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/key-results/signups\?done=created$"))
    expect(page.locator("h1")).to_have_text("More sign-ups")
    expect(page.locator("span.st.draft")).to_be_visible()

    page.get_by_role("button", name="Propose for review").click()
    expect(page).to_have_url(re.compile(r"/key-results/signups\?done=propose$"))
    expect(page.locator("p.flash")).to_contain_text("Proposed")
    expect(page.locator("span.st.proposed")).to_be_visible()
    kr = okrd.api("GET", "/key-results/signups", okrd.tokens["kim"]).expect(200)
    assert (kr["state"], kr["target"], kr["source"]) == ("proposed", 100.0, None)


def test_a_leader_requests_changes_the_member_edits_and_the_leader_approves(okrd, new_page):
    base, t = okrd.base, okrd.tokens
    kr = proposed_kr(okrd, t["kim"], kr_body("trials", "reach", "growth", "kim",
                                             title="More free trials", unit="trials"))
    lee = new_page(base, t["leader"])
    kim = new_page(base, t["kim"])

    # The leader's queue lists the proposal; they send it back with a comment.
    lee.get_by_role("link", name=re.compile("^Review")).click()
    expect(lee).to_have_url(f"{base}/review")
    proposal = lee.locator(f'article.proposal[data-kr="{kr}"]')
    expect(proposal).to_be_visible()
    proposal.locator('textarea[name="comment"]').fill("Aim for 200 trials")
    proposal.get_by_role("button", name="Request changes").click()
    expect(lee).to_have_url(re.compile(rf"/review\?done=request-changes&kr={kr}$"))
    expect(lee.locator(f'article.proposal[data-kr="{kr}"]')).to_have_count(0)

    # The member reads the comment in the review history and edits the KR.
    kim.goto(f"{base}/key-results/{kr}")
    expect(kim.locator("span.st.changes_requested")).to_be_visible()
    history = kim.locator('ol[aria-labelledby="reviews-title"]')
    expect(history).to_contain_text("Aim for 200 trials")
    expect(history).to_contain_text("request changes by lee")
    kim.get_by_role("link", name="Edit this key result").click()
    expect(kim).to_have_url(f"{base}/key-results/{kr}/edit")
    expect(kim.locator("#target")).to_have_value("100")
    kim.locator("#target").fill("200")
    kim.get_by_role("button", name="Save changes").click()
    expect(kim).to_have_url(re.compile(rf"/key-results/{kr}\?done=edited$"))
    kim.get_by_role("button", name="Propose for review").click()
    expect(kim.locator("span.st.proposed")).to_be_visible()

    # Back in the queue; the leader approves.
    lee.goto(f"{base}/review")
    proposal = lee.locator(f'article.proposal[data-kr="{kr}"]')
    expect(proposal).to_contain_text("to 200 trials")
    proposal.get_by_role("button", name="Approve").click()
    expect(lee).to_have_url(re.compile(rf"/review\?done=approve&kr={kr}$"))
    expect(lee.locator("p.flash")).to_contain_text("Approved")

    kim.goto(f"{base}/key-results/{kr}")
    expect(kim.locator("span.st.approved")).to_have_text("workflow: approved")
    got = okrd.api("GET", f"/key-results/{kr}", t["kim"]).expect(200)
    assert (got["state"], got["target"]) == ("approved", 200.0)
