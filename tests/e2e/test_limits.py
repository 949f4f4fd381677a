"""Brute-force and flood limits, on a server of their own with small limits."""
import time

import pytest
from websockets.exceptions import InvalidStatus

from support import Api, Ws, local_server, unique


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    env = {"LOGIN_FAILURE_LIMIT": "3", "WS_RATE_LIMIT": "5", "WS_RATE_WINDOW_SECONDS": "60", "ROOM_CREATE_LIMIT": "2",
           "MAX_CONNECTIONS_PER_USER": "2"}
    with local_server(tmp_path_factory.mktemp("limited"), env=env) as base:
        yield base


def test_failed_logins_lock_the_username_with_retry_after(limited):
    api = Api(limited)
    token, user = api.register(password="right password")
    for _ in range(3):
        status, body, _ = api.call("POST", "/auth/login", {"username": user["username"], "password": "wrong!!!"})
        assert status == 401
    status, body, headers = api.call("POST", "/auth/login",
                                     {"username": user["username"], "password": "right password"})
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 900
    # The lock is this account's from this address: another account from here is not affected.
    status, _, _ = api.call("POST", "/auth/login", {"username": unique(), "password": "whatever1"})
    assert status == 401


def test_each_user_may_send_a_limited_number_of_messages_over_all_connections(limited):
    api = Api(limited)
    token, _ = api.register()
    other_token, _ = api.register()
    room = api.create_room(token)
    client, second_device, someone_else = Ws(limited, token), Ws(limited, token), Ws(limited, other_token)
    try:
        for socket in (client, second_device, someone_else):
            socket.request({"action": "join", "room": room["id"]}, "joined")
        for index in range(5):
            device = client if index % 2 else second_device
            device.send({"action": "send", "room": room["id"], "text": f"m{index}", "client_id": f"c{index}"})
        sent = [someone_else.expect("message")["message"]["text"] for _ in range(5)]
        assert sorted(sent) == [f"m{i}" for i in range(5)]
        error = client.request({"action": "send", "room": room["id"], "text": "flood", "client_id": "c9"}, "error")
        assert error["code"] == "rate_limited" and error["client_id"] == "c9" and error["retry_after"] >= 1
        # The budget is the user's: the other device is refused too, and so is a retry (storing nothing).
        error = second_device.request({"action": "send", "room": room["id"], "text": "m0", "client_id": "c0"},
                                      "error")
        assert error["code"] == "rate_limited" and error["client_id"] == "c0"
        # Typing has a budget of its own; the connection stays usable; other users are not affected.
        client.send({"action": "typing", "room": room["id"]})
        someone_else.expect("typing")
        client.request({"action": "ping"}, "pong")
        someone_else.request({"action": "send", "room": room["id"], "text": "someone else"}, "message")
        status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=token)
        assert sorted(m["text"] for m in body["messages"][:5]) == [f"m{i}" for i in range(5)]
        assert [m["text"] for m in body["messages"][5:]] == ["someone else"]
    finally:
        for socket in (client, second_device, someone_else):
            socket.close()


def test_room_creation_is_limited_per_user_with_retry_after(limited):
    api = Api(limited)
    token, _ = api.register()
    api.create_room(token)
    api.create_room(token)  # the second is the last this hour
    status, body, headers = api.call("POST", "/chatrooms", {"name": unique("room ")}, token)
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 3600


def test_a_user_past_the_connection_cap_is_refused_at_the_handshake(limited):
    api = Api(limited)
    token, _ = api.register()
    first, second = Ws(limited, token), Ws(limited, token)
    try:
        with pytest.raises(InvalidStatus) as refused:
            Ws(limited, token)
        assert refused.value.response.status_code == 429
        second.close()
        deadline = time.monotonic() + 10  # $disconnect runs after the close
        while True:
            try:
                third = Ws(limited, token)
                break
            except InvalidStatus:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        third.request({"action": "ping"}, "pong")
        third.close()
    finally:
        first.close()
