"""A form posted without its CSRF token is refused (403) and changes nothing."""

from playwright.sync_api import expect

from support import approved_kr, kr_body


def post_without_token(page, form, button):
    """Removes the form's hidden csrf field, as a forged post would lack it, and sends it."""
    form.locator('input[name="csrf"]').evaluate("el => el.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button", name=button).click()
    assert answer.value.status == 403
    expect(page).to_have_title("Form refused · okrd")
    expect(page.locator("h1")).to_have_text("Form refused")


def test_forms_without_their_csrf_token_are_refused(okrd, new_page):
    base, t = okrd.base, okrd.tokens
    kr = approved_kr(okrd, t["kim"], t["leader"],
                     kr_body("csrf-checks", "trust", "growth", "kim", title="Fewer churned customers"))
    kim = new_page(base, t["kim"])

    kim.goto(f"{base}/key-results/{kr}")
    form = kim.locator(f'form[action="/key-results/{kr}/check-ins"]')
    form.locator('[name="value"]').fill("55")
    post_without_token(kim, form, "Check in")
    assert okrd.api("GET", f"/key-results/{kr}/check-ins", t["kim"]).expect(200)["items"] == []
    assert okrd.api("GET", f"/key-results/{kr}", t["kim"]).expect(200)["value"] is None

    kim.goto(f"{base}/key-results/new")
    form = kim.locator('form[action="/key-results"]')
    for name, value in {"id": "forged", "title": "Forged", "target": "1", "start": "0"}.items():
        form.locator(f"#{name}").fill(value)
    form.locator("#objective").select_option("trust")
    post_without_token(kim, form, "Save draft")
    okrd.api("GET", "/key-results/forged", t["kim"]).expect(404)

    # With its token the same form goes through: the refusal was the token's.
    kim.goto(f"{base}/key-results/{kr}")
    form = kim.locator(f'form[action="/key-results/{kr}/check-ins"]')
    form.locator('[name="value"]').fill("55")
    form.get_by_role("button", name="Check in").click()
    expect(kim.locator("p.flash")).to_contain_text("Check-in recorded")
