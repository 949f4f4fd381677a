"""Chatting in the browser: rooms, DMs, safe rendering, history, reconnection, keyboard use."""
import json
import re
from urllib.parse import quote

from playwright.sync_api import expect
from websockets.sync.client import connect

from browser_helpers import (api_register, confirmed, create_room, join_room, message_texts, messages,
                             register, rest, send, sidebar_item, wait_connected)


def test_two_people_chat_in_a_room_in_real_time(pages, unique):
    alice, bob = pages.new(), pages.new()
    alice_name, bob_name, room = unique("alice"), unique("bob"), unique("Room ")
    register(alice, alice_name)
    create_room(alice, room, "Talk about anything")
    expect(alice.locator("#conv-subtitle")).to_have_text("Talk about anything")

    register(bob, bob_name)
    # The room list is refreshed when bob's client starts: the new room is there.
    join_room(bob, room)

    # Presence: alice sees bob among the room's online members without reloading.
    expect(alice.locator("#member-list")).to_contain_text(bob_name)
    expect(bob.locator("#member-list")).to_contain_text(alice_name)

    # Typing indicator.
    alice.locator("#composer-input").press_sequentially("hel")
    expect(bob.locator("#typing")).to_have_text(f"{alice_name} is typing…")

    # Enter sends; the server's echo confirms the pending message.
    send(alice, "hello bob")
    expect(confirmed(alice, "hello bob")).to_have_count(1)
    expect(alice.locator("#message-list li.msg.pending")).to_have_count(0)
    expect(confirmed(bob, "hello bob")).to_have_count(1)
    received = confirmed(bob, "hello bob")
    expect(received.locator(".msg-sender")).to_have_text(alice_name)
    expect(received.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT.*Z$"))
    expect(received.locator("time")).to_have_text(re.compile(r"\d{1,2}:\d\d"))
    expect(bob.locator("#typing")).to_have_text("")

    # Shift+Enter makes a new line, Enter sends.
    box = bob.locator("#composer-input")
    box.press_sequentially("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    box.press("Enter")
    expect(confirmed(alice, "line one\nline two")).to_have_count(1)
    # The Send button works as well.
    box.fill("sent by button")
    bob.get_by_role("button", name="Send", exact=True).click()
    expect(confirmed(alice, "sent by button")).to_have_count(1)

    # Unread counts on conversations that are not open.
    create_room(alice, unique("Other "))
    send(bob, "are you there?")
    badge = sidebar_item(alice, "joined-list", room).locator(".badge")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("1")
    expect(alice.locator("#menu-unread")).to_be_hidden()  # the drawer button only shows on phones
    sidebar_item(alice, "joined-list", room).click()
    expect(confirmed(alice, "are you there?")).to_be_visible()
    expect(badge).to_be_hidden()

    # Leaving: membership ends, the composer is replaced by the join hint.
    bob.get_by_role("button", name="Leave", exact=True).click()
    expect(bob.locator("#join-hint")).to_be_visible()
    expect(bob.locator("#composer")).to_be_hidden()
    expect(sidebar_item(bob, "joined-list", room)).to_have_count(0)
    expect(alice.locator("#member-list")).not_to_contain_text(bob_name)


def test_direct_messages_are_private(pages, server, unique):
    bob, carol, alice = pages.new(), pages.new(), pages.new()
    alice_name, bob_name, carol_name = unique("alice"), unique("bob"), unique("carol")
    register(bob, bob_name)
    register(carol, carol_name)
    register(alice, alice_name)

    # Bob is online: alice starts a DM from the online list.
    alice.locator("#online-list").get_by_role("button", name=f"Message {bob_name}").click()
    expect(alice.locator("#conv-title")).to_have_text(bob_name)
    expect(alice.locator("#conv-subtitle")).to_have_text("Direct message · online")
    send(alice, "a secret for bob")
    expect(confirmed(alice, "a secret for bob")).to_have_count(1)

    # Bob gets it live, with an unread count on the new conversation.
    dm = sidebar_item(bob, "dm-list", alice_name)
    expect(dm.locator(".badge")).to_contain_text("1")
    dm.click()
    expect(confirmed(bob, "a secret for bob")).to_have_count(1)
    expect(dm.locator(".badge")).to_be_hidden()
    bob.locator("#composer-input").press_sequentially("ok")
    expect(alice.locator("#typing")).to_have_text(f"{bob_name} is typing…")
    send(bob, "ok, got it")
    expect(confirmed(alice, "ok, got it")).to_have_count(1)

    # Carol sees nothing of it, and the API refuses to show it to her.
    expect(carol.locator("#dm-empty")).to_be_visible()
    expect(carol.locator("#dm-list li")).to_have_count(0)
    expect(carol.locator("body")).not_to_contain_text("a secret for bob")
    token = json.loads(carol.evaluate("sessionStorage.getItem('chat.session')"))["token"]
    dm_id = "dm:" + ":".join(sorted([alice_name.lower(), bob_name.lower()]))
    status, _ = rest(server, "GET", f"/chatrooms/{quote(dm_id, safe='')}/messages", token=token)
    assert status == 403


def test_markup_in_messages_and_names_is_shown_as_text(pages, unique):
    alice, bob = pages.new(), pages.new()
    alice_name, bob_name = unique("alice"), unique("bob")
    room = f"<b>bold</b> {unique('room')}"
    register(alice, alice_name)
    create_room(alice, room)
    register(bob, bob_name)
    join_room(bob, room)

    payloads = [
        "<img src=x onerror=\"window.__pwned=1\">",
        "<script>window.__pwned=2</script>",
        "see https://example.com/path?q=1 and javascript:window.__pwned=3",
    ]
    for text in payloads:
        send(alice, text)
    for page in (alice, bob):
        for text in payloads:
            expect(confirmed(page, text)).to_be_visible()
        log = page.locator("#message-list")
        expect(log.locator("img")).to_have_count(0)
        expect(log.locator("script")).to_have_count(0)
        expect(page.locator("#sidebar b, #conv-title b")).to_have_count(0)
        expect(page.locator("#conv-title")).to_have_text(room)
        link = log.locator("a")
        expect(link).to_have_count(1)
        expect(link).to_have_attribute("href", "https://example.com/path?q=1")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
        assert page.evaluate("window.__pwned") is None
    # A username is text as well.
    expect(bob.locator("#message-list .msg-sender").first).to_have_text(alice_name)


def test_reload_keeps_history_and_scrolling_up_loads_older(pages, server, unique):
    page = pages.new()
    name, room = unique("hist"), unique("History ")
    register(page, name)
    create_room(page, room)
    room_id = page.evaluate("decodeURIComponent(location.hash.slice(4))")

    # 60 messages from another user, over the WebSocket from Python.
    other = unique("writer")
    token = api_register(server, other)
    with connect(server.replace("http", "ws") + "/ws?token=" + quote(token, safe="")) as ws:
        ws.send(json.dumps({"action": "join", "room": room_id}))
        assert json.loads(ws.recv(timeout=10))["type"] == "joined"
        for n in range(1, 61):
            ws.send(json.dumps({"action": "send", "room": room_id, "text": f"message {n:02d}", "client_id": f"c{n}"}))
            while json.loads(ws.recv(timeout=10)).get("type") != "message":
                pass
    expect(confirmed(page, "message 60")).to_be_visible()

    page.reload()
    wait_connected(page, name)
    expect(page.locator("#conv-title")).to_have_text(room)  # the open conversation is kept too
    expect(messages(page)).to_have_count(50)                # the latest page
    expect(confirmed(page, "message 60")).to_be_in_viewport()
    texts = message_texts(page)
    assert texts == [f"message {n:02d}" for n in range(11, 61)]

    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages(page)).to_have_count(60)
    assert message_texts(page) == [f"message {n:02d}" for n in range(1, 61)]
    expect(page.locator("#history-status")).to_have_text("This is the beginning of the conversation.")
    # The view stays where the reader was rather than jumping.
    expect(confirmed(page, "message 60")).not_to_be_in_viewport()


def test_recovers_after_the_connection_drops(pages, unique):
    alice, bob = pages.new(), pages.new()
    alice_name, bob_name, room = unique("alice"), unique("bob"), unique("Flaky ")
    register(alice, alice_name)
    create_room(alice, room)
    register(bob, bob_name)
    join_room(bob, room)
    send(bob, "before the outage")
    expect(confirmed(alice, "before the outage")).to_be_visible()

    # An outage: alice's socket closes and stays closed until the network is back.
    alice.evaluate("window.__chat.goOffline()")
    expect(alice.locator("#conn-text")).to_have_text("Offline")
    expect(alice.locator("#conn-status")).to_have_attribute("data-state", "offline")
    expect(bob.locator("#member-list")).not_to_contain_text(alice_name)
    send(bob, "missed one")
    send(bob, "missed two")
    expect(confirmed(bob, "missed two")).to_be_visible()

    # Written while offline: shown at once as pending, queued.
    send(alice, "written offline")
    pending = alice.locator("#message-list li.msg.pending")
    expect(pending).to_have_count(1)
    expect(pending.locator(".msg-state")).to_have_text("Waiting for connection…")
    expect(alice.locator("#conn-text")).to_have_text("Offline – 1 message waiting")

    alice.evaluate("window.__chat.goOnline()")
    expect(alice.locator("#conn-text")).to_have_text("Connected")
    expect(confirmed(alice, "written offline")).to_have_count(1)
    expect(pending).to_have_count(0)
    texts = message_texts(alice)
    assert texts == ["before the outage", "missed one", "missed two", "written offline"], texts
    # Bob gets the queued message exactly once.
    expect(confirmed(bob, "written offline")).to_have_count(1)

    # An abrupt drop: the client reconnects by itself (backoff), rejoins, and catches up.
    opens = alice.evaluate("window.__chat.opens()")
    alice.evaluate("window.__chat.dropSocket()")
    alice.wait_for_function("(n) => window.__chat.opens() > n && window.__chat.status() === 'connected'", arg=opens)
    send(bob, "after the drop")
    expect(confirmed(alice, "after the drop")).to_have_count(1)
    assert message_texts(alice)[-1] == "after the drop"
    assert len(message_texts(alice)) == 5
    expect(alice.locator("#member-list")).to_contain_text(bob_name)


def test_keyboard_only_use(pages, unique):
    page = pages.new()
    name = unique("keys")
    # The sign-in form starts with focus in its first field; Tab walks it in order.
    expect(page.locator("#login-username")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#login-password")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Create an account")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#register-username")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    expect(page.locator("#register-email")).to_be_focused()
    page.keyboard.type(f"{name}@example.com")
    page.keyboard.press("Tab")
    expect(page.locator("#register-password")).to_be_focused()
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    wait_connected(page, name)

    # The first Tab reaches the skip link, visibly.
    page.locator("body").focus()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the message input")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log out")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", outline

    # Tab through the sidebar to "New room", create a room with the keyboard only.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "new-room-toggle":
            break
    expect(page.locator("#new-room-toggle")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#room-name")).to_be_focused()
    room = unique("Keyboard ")
    page.keyboard.type(room)
    page.keyboard.press("Enter")
    expect(page.locator("#conv-title")).to_have_text(room)
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    expect(confirmed(page, "typed without a mouse")).to_be_visible()
    # Focus order continues from the composer to the Send button.
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_focused()
