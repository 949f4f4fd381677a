"""Registration, sign-in and sign-out through the forms."""
import json

from playwright.sync_api import expect

from browser_helpers import PASSWORD, login, register, wait_connected


def test_registration_validation_login_and_logout(pages, unique):
    page = pages.new()
    name = unique("reg")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The client's own checks, shown inline next to labelled fields.
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_role("button", name="Create account").click()
    for field in ("username", "email", "password"):
        expect(page.locator(f"#register-{field}-error")).to_be_visible()
        expect(page.locator(f"#register-{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#register-username")).to_be_focused()

    # The server's `fields`: this address passes the client's check but not the API's.
    page.locator("#register-form").get_by_label("Username", exact=True).fill(name)
    page.locator("#register-form").get_by_label("Email").fill("someone@localhost")
    page.locator("#register-form").get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-error")).to_have_text("Please correct the fields marked below.")
    expect(page.locator("#register-email-error")).to_be_visible()
    expect(page.locator("#register-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#register-username-error")).to_be_hidden()

    page.locator("#register-form").get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_role("button", name="Create account").click()
    wait_connected(page, name)

    # The session is in sessionStorage, not localStorage.
    session = json.loads(page.evaluate("sessionStorage.getItem('chat.session')"))
    assert session["user"]["username"] == name and session["token"].count(".") == 2
    assert "token" not in json.dumps(page.evaluate("Object.assign({}, localStorage)"))

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#auth-notice")).to_have_text("You have signed out.")
    assert page.evaluate("sessionStorage.getItem('chat.session')") is None

    # 401: a clear message, and the password is selected to retype.
    login(page, name, "not the password")
    expect(page.locator("#login-error")).to_have_text("That username or email and password do not match.")
    expect(page.locator("#chat-view")).to_be_hidden()

    # 409: the name is taken.
    page.get_by_role("link", name="Create an account").click()
    page.locator("#register-form").get_by_label("Username", exact=True).fill(name.upper())
    page.locator("#register-form").get_by_label("Email").fill(f"other-{name}@example.com")
    page.locator("#register-form").get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#register-error")).to_contain_text("already registered")

    # Signing in with the email works too.
    page.get_by_role("link", name="Sign in").click()
    login(page, f"{name}@example.com")
    wait_connected(page, name)


def test_session_survives_reload_but_not_a_new_tab_session(pages, unique):
    page = pages.new()
    name = unique("sess")
    register(page, name)
    page.reload()
    wait_connected(page, name)
    # A fresh browser context has no session: it shows the sign-in form.
    other = pages.new()
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()


def test_rate_limited_sign_in_says_so(pages):
    page = pages.new()
    page.route("**/api/auth/login", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "30", "Content-Type": "application/json"},
        body=json.dumps({"error": {"code": "rate_limited", "message": "Too many requests."}})))
    login(page, "someone", "whatever-password")
    expect(page.locator("#login-error")).to_have_text("Too many attempts. Please wait 30 seconds and try again.")
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
