"""The authorization matrix: every REST endpoint and WebSocket action against every kind of
bad credential and every kind of outsider, with the refusal the contract (PROTOCOL.md,
docs/api.md) names.

Token cases (REST: 401 unauthorized; WebSocket: the handshake is refused): none, a
malformed header, garbage, expired (genuinely signed), tampered claims, `alg: none`,
signed with another key, no `exp`, no `sub`. Outsiders: another user's valid token (gets
their own data, never the victim's), a non-member of a room (reads the room, not its
messages; cannot send or type there), a DM outsider (403/forbidden everywhere in the DM).
Public rooms are readable by any authenticated user (GET /api/chatrooms/{id}, join).
Failed-login limits (429) are tested in tests/e2e/test_limits.py; this server sets them high.
"""
import base64
import json
import time

import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support import Ws


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def cast(server, server_data):
    """alice owns a room with a message and a DM with bob; carol is an outsider to both."""
    from support import Api
    api = Api(server)
    people = {}
    for name in ("alice", "bob", "carol"):
        token, user = api.register()
        people[name] = {"token": token, "user": user, "name": user["username"]}
    room = api.create_room(people["alice"]["token"])["id"]
    alice = Ws(server, people["alice"]["token"])
    alice.request({"action": "join", "room": room}, "joined")
    alice.request({"action": "send", "room": room, "text": "members only"}, "message")
    dm = alice.request({"action": "dm", "to": people["bob"]["name"], "text": "just us"}, "message")["message"]["room"]
    alice.close()
    secret = (server_data / "jwt-secret").read_text().strip()
    victim = people["alice"]["name"]
    now = int(time.time())
    header, payload, signature = people["alice"]["token"].split(".")
    bad_tokens = {
        "none": None,
        "garbage": "not-a-token",
        "expired": jwt.encode({"sub": victim, "iat": now - 90_000, "exp": now - 10}, secret, algorithm="HS256"),
        "tampered": f"{header}.{_b64({**json.loads(base64.urlsafe_b64decode(payload + '==')), 'sub': 'someone'})}."
                    f"{signature}",
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "other_key": jwt.encode({"sub": victim, "exp": now + 600}, "k" * 48, algorithm="HS256"),
        "no_exp": jwt.encode({"sub": victim}, secret, algorithm="HS256"),
        "no_sub": jwt.encode({"exp": now + 600}, secret, algorithm="HS256"),
        "hs512_other_key": jwt.encode({"sub": victim, "exp": now + 600}, "k" * 64, algorithm="HS512"),
    }
    return {"api": api, "people": people, "room": room, "dm": dm, "bad_tokens": bad_tokens}


def _rest_endpoints(cast):
    room, dm = cast["room"], cast["dm"]
    return {
        "GET /me": ("GET", "/me", None),
        "GET /me/rooms": ("GET", "/me/rooms", None),
        "GET /chatrooms": ("GET", "/chatrooms", None),
        "POST /chatrooms": ("POST", "/chatrooms", {"name": f"authz {time.monotonic_ns()}"}),
        "GET /chatrooms/{id}": ("GET", f"/chatrooms/{room}", None),
        "GET /chatrooms/{id}/messages": ("GET", f"/chatrooms/{room}/messages", None),
        "GET /chatrooms/{dm}/messages": ("GET", f"/chatrooms/{dm}/messages", None),
        "GET /users/online": ("GET", "/users/online", None),
    }


REST_NAMES = ["GET /me", "GET /me/rooms", "GET /chatrooms", "POST /chatrooms", "GET /chatrooms/{id}",
              "GET /chatrooms/{id}/messages", "GET /chatrooms/{dm}/messages", "GET /users/online"]
TOKEN_CASES = ["none", "garbage", "expired", "tampered", "alg_none", "other_key", "no_exp", "no_sub",
               "hs512_other_key"]


@pytest.mark.parametrize("case", TOKEN_CASES)
@pytest.mark.parametrize("endpoint", REST_NAMES)
def test_rest_refuses_every_bad_token_with_401(cast, endpoint, case):
    method, path, body = _rest_endpoints(cast)[endpoint]
    status, answer, _ = cast["api"].call(method, path, body, token=cast["bad_tokens"][case])
    assert status == 401 and answer["error"]["code"] == "unauthorized", (status, answer)


@pytest.mark.parametrize("header", ["Token {t}", "Basic {t}", "Bearer", "Bearer  ", "{t}", "bearer {t}x"])
def test_rest_refuses_malformed_authorization_headers(cast, header):
    token = cast["people"]["alice"]["token"]
    status, answer, _ = cast["api"].call("GET", "/me", headers={"Authorization": header.format(t=token)})
    assert status == 401 and answer["error"]["code"] == "unauthorized"


# (endpoint, who) -> expected status for the people of `cast`: alice is the member and a DM
# participant, carol a non-member and DM outsider.
REST_MATRIX = [
    ("GET /chatrooms/{id}", "carol", 200),            # public rooms: any authenticated user
    ("GET /chatrooms/{id}/messages", "carol", 403),   # members only
    ("GET /chatrooms/{dm}/messages", "carol", 403),   # DM outsider
    ("GET /chatrooms/{dm}/messages", "bob", 200),     # the other participant
    ("GET /chatrooms/{id}/messages", "alice", 200),
    ("POST /chatrooms", "carol", 201),
    ("GET /chatrooms", "carol", 200),
    ("GET /users/online", "carol", 200),
]


@pytest.mark.parametrize("endpoint, who, expected", REST_MATRIX)
def test_rest_outsiders_get_what_the_contract_says(cast, endpoint, who, expected):
    method, path, body = _rest_endpoints(cast)[endpoint]
    status, answer, _ = cast["api"].call(method, path, body, token=cast["people"][who]["token"])
    assert status == expected, (status, answer)
    if expected == 403:
        assert answer["error"]["code"] == "forbidden"
    dump = json.dumps(answer)
    if endpoint != "GET /chatrooms/{dm}/messages" or who == "carol":
        assert "just us" not in dump
    if endpoint == "GET /chatrooms/{id}/messages" and who == "carol":
        assert "members only" not in dump


def test_another_users_token_sees_only_that_users_own_data(cast):
    carol = cast["people"]["carol"]
    _, me, _ = cast["api"].call("GET", "/me", token=carol["token"])
    assert me["user"]["username"] == carol["name"] and me["user"]["email"] == carol["user"]["email"]
    _, mine, _ = cast["api"].call("GET", "/me/rooms", token=carol["token"])
    assert mine == {"rooms": [], "dms": []}
    _, room, _ = cast["api"].call("GET", f"/chatrooms/{cast['room']}", token=carol["token"])
    everything = json.dumps([room, me, mine])
    for name in ("alice", "bob"):
        assert cast["people"][name]["user"]["email"] not in everything


@pytest.mark.parametrize("case", TOKEN_CASES)
def test_websocket_handshake_refuses_every_bad_token(server, cast, case):
    token = cast["bad_tokens"][case]
    url = server.replace("http", "ws", 1) + "/ws" + (f"?token={token}" if token is not None else "")
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10)
    assert refused.value.response.status_code in (401, 403)


# (frame, who) -> expected answer type or error code, for a connected, authenticated user.
def _ws_matrix(cast):
    room, dm = cast["room"], cast["dm"]
    bob = cast["people"]["bob"]["name"]
    return [
        ({"action": "send", "room": room, "text": "let me in"}, "carol", "forbidden"),
        ({"action": "history", "room": room}, "carol", "forbidden"),
        ({"action": "typing", "room": room}, "carol", "forbidden"),
        ({"action": "join", "room": dm}, "carol", "forbidden"),
        ({"action": "send", "room": dm, "text": "psst"}, "carol", "forbidden"),
        ({"action": "history", "room": dm}, "carol", "forbidden"),
        ({"action": "typing", "room": dm}, "carol", "forbidden"),
        ({"action": "leave", "room": room}, "carol", "left"),     # not a member: nothing to end
        ({"action": "join", "room": room}, "carol", "joined"),    # public rooms: anyone may join
        ({"action": "history", "room": dm}, "bob", "history"),    # the other participant
        ({"action": "dm", "to": bob, "text": "hi bob"}, "carol", "message"),  # anyone may start a DM
        ({"action": "ping"}, "carol", "pong"),
    ]


def test_websocket_actions_refuse_outsiders(server, cast):
    results = []
    for frame, who, expected in _ws_matrix(cast):
        client = Ws(server, cast["people"][who]["token"])
        try:
            client.send(frame)
            while True:
                answer = json.loads(client.socket.recv(timeout=10))
                if answer["type"] != "presence":
                    break
            got = answer["code"] if answer["type"] == "error" else answer["type"]
            results.append((frame["action"], frame.get("room", frame.get("to")), who, expected, got))
            if got == "history":
                assert ("just us" in json.dumps(answer)) == (frame["room"] == cast["dm"])
            client.request({"action": "ping"}, "pong")  # the connection stays usable
        finally:
            client.close()
    wrong = [row for row in results if row[3] != row[4]]
    assert not wrong, f"(action, target, who, expected, got): {wrong}"
    # Nothing the outsiders tried reached the room or the DM.
    _, page, _ = cast["api"].call("GET", f"/chatrooms/{cast['room']}/messages", token=cast["people"]["alice"]["token"])
    assert [message["text"] for message in page["messages"]] == ["members only"]
    _, page, _ = cast["api"].call("GET", f"/chatrooms/{cast['dm']}/messages", token=cast["people"]["alice"]["token"])
    assert [message["text"] for message in page["messages"]] == ["just us"]
