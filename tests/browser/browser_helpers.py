"""Steps the browser tests share: signing up, rooms, sending, and REST/WS calls from Python."""
import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"


def register(page: Page, username: str, password: str = PASSWORD) -> None:
    """Creates an account through the registration form and waits for the live chat."""
    page.get_by_role("link", name="Create an account").click()
    page.locator("#register-form").get_by_label("Username", exact=True).fill(username)
    page.locator("#register-form").get_by_label("Email").fill(f"{username}@example.com")
    page.locator("#register-form").get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create account").click()
    wait_connected(page, username)


def login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.locator("#login-form").get_by_label("Username or email").fill(username)
    page.locator("#login-form").get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def wait_connected(page: Page, username: str | None = None) -> None:
    expect(page.locator("#chat-view")).to_be_visible()
    if username:
        expect(page.locator("#me-name")).to_have_text(username)
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "connected")
    expect(page.locator("#conn-text")).to_have_text("Connected")


def create_room(page: Page, name: str, description: str = "") -> None:
    page.get_by_role("button", name="New room").click()
    page.locator("#room-name").fill(name)
    if description:
        page.locator("#room-description").fill(description)
    page.locator("#new-room-form").get_by_role("button", name="Create").click()
    expect(page.locator("#conv-title")).to_have_text(name)
    expect(page.locator("#leave-button")).to_be_visible()


def sidebar_item(page: Page, list_id: str, name: str):
    return page.locator(f"#{list_id} button.conv-link").filter(
        has=page.locator(".conv-name", has_text=re.compile(rf"^{re.escape(name)}$")))


def open_room(page: Page, name: str) -> None:
    sidebar_item(page, "room-list", name).click()
    expect(page.locator("#conv-title")).to_have_text(name)


def join_room(page: Page, name: str) -> None:
    open_room(page, name)
    page.locator("#join-hint-button").click()
    expect(page.locator("#leave-button")).to_be_visible()
    expect(sidebar_item(page, "joined-list", name)).to_be_visible()


def send(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def messages(page: Page):
    return page.locator("#message-list li.msg")


def confirmed(page: Page, text: str):
    """The confirmed (server-echoed) message whose text is exactly `text`."""
    return page.locator("#message-list li.msg:not(.pending)").filter(
        has=page.locator(".msg-text", has_text=re.compile(rf"^{re.escape(text)}$")))


def message_texts(page: Page) -> list[str]:
    return page.locator("#message-list li.msg .msg-text").all_inner_texts()


# -- Python-side client, for data the UI would take long to make ---------------------------

def rest(base_url: str, method: str, path: str, body=None, token: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{base_url}/api{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def api_register(base_url: str, username: str) -> str:
    status, data = rest(base_url, "POST", "/auth/register",
                        {"username": username, "email": f"{username}@example.com", "password": PASSWORD})
    assert status == 201, data
    return data["token"]
