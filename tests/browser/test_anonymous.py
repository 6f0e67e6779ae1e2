"""What an anonymous visitor sees: what `[server] status_page` allows, and
never a form that writes."""

from playwright.sync_api import expect

from support import FILE_TITLES

# Every page an anonymous visitor might open, with the status it answers
# on a public installation (the review queue and the draft form are for
# people with a token: they say so, without a form).
PAGES = {"/": 200, "/sources": 200, "/teams/growth": 200, "/objectives/reach": 200,
         "/key-results/calls": 200, "/review": 403, "/key-results/new": 200}


def test_a_public_web_app_shows_the_okrs_and_no_form_that_writes(public_okrd, new_page):
    page = new_page(public_okrd.base)
    for path, status in PAGES.items():
        answer = page.goto(f"{public_okrd.base}{path}")
        assert answer.status == status, f"{path}: {answer.status}"
        expect(page.locator("main h1")).to_be_visible()
        assert page.locator('form[method="post"]').count() == 0, f"{path} has a form that writes"
        expect(page.locator(".who")).to_contain_text("Sign in")
    # What each page is about is there for anyone.
    page.goto(f"{public_okrd.base}/")
    for title in ("Reduce cost of operations", "Reach more people", "Fewer calls to the call center"):
        expect(page.locator("main")).to_contain_text(title)
    page.goto(f"{public_okrd.base}/key-results/calls")
    expect(page.locator("main h1")).to_have_text("Fewer calls to the call center")
    expect(page.locator("figure svg")).to_be_visible()


def test_a_private_web_app_shows_anonymous_visitors_only_the_sign_in_form(okrd, new_page):
    page = new_page(okrd.base)
    for path in PAGES:
        answer = page.goto(f"{okrd.base}{path}")
        assert answer.status == 401, f"{path}: {answer.status}"
        expect(page).to_have_title("Sign in · okrd")
        expect(page.locator('form[action="/sign-in"] input#token')).to_be_visible()
        assert page.locator('form[method="post"]').count() == 1, f"{path}: more forms than sign-in"
        content = page.content()
        for title in FILE_TITLES:
            assert title not in content, f"{path} shows {title!r} to an anonymous visitor"
