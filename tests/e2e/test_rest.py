"""Every REST row of the contract, through the local server."""
import base64
import json
import time

import jwt

from support import unique


def test_register_returns_token_and_own_user(api):
    name = unique("Mixed")
    status, body, _ = api.call("POST", "/auth/register",
                               {"username": name, "email": f"{name}@Example.com", "password": "12345678"})
    assert status == 201
    assert body["user"]["username"] == name
    assert body["user"]["email"] == f"{name}@example.com"  # the domain is normalised, the local part kept
    assert body["user"]["created_at"].endswith("Z") and len(body["user"]["created_at"]) == 24
    assert jwt.decode(body["token"], options={"verify_signature": False})["sub"] == name
    assert "password" not in json.dumps(body) and "$2b$" not in json.dumps(body)


def test_register_refuses_taken_username_and_email_case_insensitively(api):
    token, user = api.register()
    status, body, _ = api.call("POST", "/auth/register", {
        "username": user["username"].upper(), "email": "other@example.com", "password": "12345678"})
    assert status == 409 and body["error"]["code"] == "conflict"
    status, body, _ = api.call("POST", "/auth/register", {
        "username": unique(), "email": user["email"].upper(), "password": "12345678"})
    assert status == 409 and body["error"]["fields"] == {"email": "is already registered"}


def test_register_validates_every_field(api):
    status, body, _ = api.call("POST", "/auth/register", {"username": "a!", "email": "nope", "password": "short"})
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert set(body["error"]["fields"]) == {"username", "email", "password"}


def test_password_over_72_bytes_is_refused_not_truncated(api):
    name = unique()
    password = "é" * 37  # 74 bytes in UTF-8, 37 characters
    status, body, _ = api.call("POST", "/auth/register",
                               {"username": name, "email": f"{name}@example.com", "password": password})
    assert status == 400 and "password" in body["error"]["fields"]
    status, _, _ = api.call("POST", "/auth/register",
                            {"username": name, "email": f"{name}@example.com", "password": "x" * 72})
    assert status == 201


def test_bad_json_and_wrong_shapes_are_400_not_500(api):
    for raw in (b"{", b"[]", b"null", b"\xff\xfe", b'{"username": 5}'):
        status, body, _ = api.call("POST", "/auth/register", raw=raw)
        assert status == 400, raw
        assert body["error"]["code"] == "invalid_request"


def test_oversized_body_is_413(api):
    status, body, _ = api.call("POST", "/auth/login", {"username": "x", "password": "y" * 20_000})
    assert status == 413 and body["error"]["code"] == "too_large"


def test_login_by_username_or_email(api):
    token, user = api.register(password="open sesame")
    for identifier in (user["username"], user["username"].upper(), user["email"]):
        status, body, _ = api.call("POST", "/auth/login", {"username": identifier, "password": "open sesame"})
        assert status == 200, identifier
        assert body["user"]["username"] == user["username"]
        assert body["token"]


def test_unknown_user_and_wrong_password_get_the_same_401(api):
    _, user = api.register(password="open sesame")
    wrong = api.call("POST", "/auth/login", {"username": user["username"], "password": "nope nope"})
    unknown = api.call("POST", "/auth/login", {"username": unique(), "password": "nope nope"})
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]
    assert wrong[1]["error"]["code"] == "invalid_credentials"


def test_me_needs_a_valid_token(api):
    token, user = api.register()
    status, body, _ = api.call("GET", "/me", token=token)
    assert status == 200 and body["user"]["username"] == user["username"] and "email" in body["user"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    unsigned = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    tampered_claims = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "someone"}).encode()).rstrip(b"=")
    expired = jwt.encode({"sub": user["username"], "exp": int(time.time()) - 10}, "x" * 40, algorithm="HS256")
    for bad in (None, "garbage", f"{unsigned}.{payload}.", f"{header}.{tampered_claims.decode()}.{signature}",
                expired, token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        status, body, _ = api.call("GET", "/me", token=bad)
        assert status == 401, bad
        assert body["error"]["code"] == "unauthorized"


def test_rooms_create_list_get(api):
    token, user = api.register()
    name = unique("Room ")
    status, body, _ = api.call("POST", "/chatrooms", {"name": f"  {name}  ", "description": "about"}, token)
    assert status == 201
    room = body["room"]
    assert room["name"] == name and room["description"] == "about" and room["created_by"] == user["username"]
    assert set(room) == {"id", "name", "description", "created_by", "created_at", "member_count",
                         "last_message_at"}
    status, body, _ = api.call("GET", "/chatrooms", token=token)
    assert status == 200 and room["id"] in [r["id"] for r in body["rooms"]]
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}", token=token)
    assert status == 200 and body["room"]["members"] == [] and body["room"]["name"] == name
    status, body, _ = api.call("POST", "/chatrooms", {"name": name.upper()}, token)
    assert status == 409 and body["error"]["code"] == "conflict"


def test_room_input_errors(api):
    token, _ = api.register()
    for payload, field in (({"name": "   "}, "name"), ({"name": "x" * 65}, "name"), ({"name": "bell\x07"}, "name"),
                           ({}, "name"), ({"name": 12}, "name")):
        status, body, _ = api.call("POST", "/chatrooms", payload, token)
        assert status == 400 and field in body["error"]["fields"], payload
    status, body, _ = api.call("GET", "/chatrooms/nope", token=token)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = api.call("GET", "/chatrooms", token=None)
    assert status == 401


def test_messages_are_for_members_with_cursors(api, ws):
    token, user = api.register()
    other, _ = api.register()
    room = api.create_room(token)
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=token)
    assert status == 403 and body["error"]["code"] == "forbidden"
    client = ws(token)
    client.request({"action": "join", "room": room["id"]}, "joined")
    sent = []
    for index in range(5):
        client.send({"action": "send", "room": room["id"], "text": f"m{index}"})
        sent.append(client.expect("message")["message"])
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=token)
    assert status == 200 and body["messages"] == sent and body["more"] is False
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages?limit=2", token=token)
    assert body["messages"] == sent[3:] and body["more"] is True
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages?before={sent[3]['id']}&limit=2",
                               token=token)
    assert body["messages"] == sent[1:3] and body["more"] is True
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages?after={sent[1]['id']}", token=token)
    assert body["messages"] == sent[2:] and body["more"] is False
    for query in ("limit=0", "limit=abc", "limit=101", "before=not-an-id"):
        status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages?{query}", token=token)
        assert status == 400 and body["error"]["code"] == "invalid_request", query
    status, _, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=other)
    assert status == 403
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}", token=other)
    assert body["room"]["members"] == [user["username"]] and body["room"]["member_count"] == 1
    assert body["room"]["last_message_at"] == sent[-1]["ts"]


def test_online_users_follow_connections(api, ws):
    token, user = api.register()
    status, body, _ = api.call("GET", "/users/online", token=token)
    assert status == 200 and user["username"] not in body["users"]
    client = ws(token)
    client.request({"action": "ping"}, "pong")
    assert user["username"] in api.call("GET", "/users/online", token=token)[1]["users"]
    client.close()
    deadline = time.monotonic() + 10
    while user["username"] in api.call("GET", "/users/online", token=token)[1]["users"]:
        assert time.monotonic() < deadline, "user still online after disconnecting"
        time.sleep(0.1)


def test_emails_are_shown_only_to_their_owner(api, ws):
    token, user = api.register()
    other_token, other = api.register()
    room = api.create_room(token)
    ws(other_token).request({"action": "join", "room": room["id"]}, "joined")
    everything = json.dumps([api.call("GET", path, token=token)[1] for path in
                             ("/chatrooms", f"/chatrooms/{room['id']}", "/users/online")])
    assert other["email"] not in everything


def test_my_rooms_lists_joined_rooms_and_dms(api, ws):
    token, user = api.register()
    friend_token, friend = api.register()
    room = api.create_room(token)
    client = ws(token)
    client.request({"action": "join", "room": room["id"]}, "joined")
    client.request({"action": "dm", "to": friend["username"], "text": "hi"}, "message")
    status, body, _ = api.call("GET", "/me/rooms", token=token)
    assert status == 200
    assert [r["id"] for r in body["rooms"]] == [room["id"]]
    assert [(d["id"], d["user"]) for d in body["dms"]] == [
        ("dm:" + ":".join(sorted([user["username"].lower(), friend["username"].lower()])), friend["username"])]
    status, body, _ = api.call("GET", "/me/rooms", token=friend_token)
    assert body["rooms"] == [] and body["dms"][0]["user"] == user["username"]


def test_no_cors_the_api_shares_the_sites_origin(api, server):
    status, _, headers = api.call("GET", "/chatrooms", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers
