"""Every WebSocket row of the contract, with two and three users, through the local server."""
import json
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support import Ws, local_server, management_call, unique


def join(room: dict, *clients) -> None:
    for client in clients:
        client.request({"action": "join", "room": room["id"]}, "joined")


@pytest.fixture
def trio(api):
    """Three users and a room the first one created."""
    users = [api.register() for _ in range(3)]
    room = api.create_room(users[0][0])
    return users, room


def test_connect_refuses_missing_or_bad_tokens(server):
    for query in ("", "?token=", "?token=not.a.jwt"):
        with pytest.raises(InvalidStatus) as refused:
            connect(server.replace("http", "ws") + "/ws" + query, open_timeout=5)
        assert refused.value.response.status_code in (401, 403)


def test_join_returns_room_history_and_members_and_announces(api, ws, trio):
    (ta, a), (tb, b), _ = trio[0]
    room = trio[1]
    alice = ws(ta)
    joined = alice.request({"action": "join", "room": room["id"]}, "joined")
    assert joined["room"]["id"] == room["id"] and joined["room"]["member_count"] == 1
    assert joined["messages"] == [] and joined["more"] is False and joined["members"] == [a["username"]]
    bob = ws(tb)
    joined = bob.request({"action": "join", "room": room["id"]}, "joined")
    assert sorted(joined["members"]) == sorted([a["username"], b["username"]])
    assert alice.expect("presence") == {"type": "presence", "room": room["id"], "user": b["username"],
                                        "status": "joined"}
    bob.silent("presence")


def test_send_reaches_every_connection_in_the_room_only(api, ws, trio):
    (ta, a), (tb, b), (tc, c) = trio[0]
    room = trio[1]
    alice, alice_phone, bob, carol = ws(ta), ws(ta), ws(tb), ws(tc)
    join(room, alice, alice_phone, bob)
    alice.send({"action": "send", "room": room["id"], "text": "  hello <b>all</b>  ", "client_id": "c-1"})
    frames = [client.expect("message") for client in (alice, alice_phone, bob)]
    message = frames[0]["message"]
    assert all(frame == frames[0] for frame in frames)
    assert message["text"] == "hello <b>all</b>" and message["sender"] == a["username"]
    assert message["room"] == room["id"] and message["client_id"] == "c-1" and message["ts"].endswith("Z")
    assert set(message) == {"id", "room", "sender", "text", "ts", "client_id", "seq"}
    carol.silent("message")


def test_send_to_a_room_not_joined_is_forbidden_and_the_connection_stays(api, ws, trio):
    (ta, _), _, (tc, _) = trio[0]
    room = trio[1]
    alice, carol = ws(ta), ws(tc)
    alice.request({"action": "join", "room": room["id"]}, "joined")
    error = carol.request({"action": "send", "room": room["id"], "text": "let me in", "client_id": "x9"}, "error")
    assert error == {"type": "error", "code": "forbidden", "message": error["message"], "action": "send",
                     "client_id": "x9"}
    error = carol.request({"action": "send", "room": "no-such-room", "text": "hi"}, "error")
    assert error["code"] == "not_found"
    alice.silent("message")
    carol.request({"action": "ping"}, "pong")
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=ta)
    assert body["messages"] == []


def test_retried_send_with_the_same_client_id_is_stored_once(api, ws, trio):
    (ta, _), (tb, _), _ = trio[0]
    room = trio[1]
    alice, bob = ws(ta), ws(tb)
    join(room, alice, bob)
    alice.expect("presence")
    frame = {"action": "send", "room": room["id"], "text": "once", "client_id": "retry-1"}
    first = alice.request(frame, "message")["message"]
    again = alice.request(frame, "message")["message"]
    assert first == again
    assert bob.expect("message")["message"] == first
    other = alice.request({**frame, "client_id": "retry-2"}, "message")["message"]
    assert other["id"] != first["id"] and (first["seq"], other["seq"]) == (1, 2)
    # The retry went back to its sender only: bob's next frame is the next message.
    assert bob.expect("message")["message"] == other
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=ta)
    assert [m["id"] for m in body["messages"]] == [first["id"], other["id"]]


def test_client_ids_are_per_sender(api, ws, trio):
    (ta, _), (tb, _), _ = trio[0]
    room = trio[1]
    alice, bob = ws(ta), ws(tb)
    join(room, alice, bob)
    mine = alice.request({"action": "send", "room": room["id"], "text": "a", "client_id": "same"}, "message")
    bob.send({"action": "send", "room": room["id"], "text": "b", "client_id": "same"})
    frames = [bob.expect("message"), bob.expect("message")]
    assert [f["message"]["text"] for f in frames] == ["a", "b"]
    assert frames[1]["message"]["id"] != mine["message"]["id"]


def test_dm_reaches_both_users_every_connection_and_nobody_else(api, ws, trio):
    (ta, a), (tb, b), (tc, c) = trio[0]
    alice, alice_phone, bob, carol = ws(ta), ws(ta), ws(tb), ws(tc)
    for client in (alice, alice_phone, bob, carol):
        client.request({"action": "ping"}, "pong")
    alice.send({"action": "dm", "to": b["username"].upper(), "text": "secret", "client_id": "d1"})
    frames = [client.expect("message") for client in (alice, alice_phone, bob)]
    message = frames[0]["message"]
    expected_id = "dm:" + ":".join(sorted([a["username"].lower(), b["username"].lower()]))
    assert message["room"] == expected_id and message["text"] == "secret" and message["sender"] == a["username"]
    assert all(frame == frames[0] for frame in frames)
    carol.silent("message")
    # The DM conversation is private: to REST and to the WebSocket alike.
    status, body, _ = api.call("GET", f"/chatrooms/{expected_id}/messages", token=tc)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body, _ = api.call("GET", f"/chatrooms/{expected_id}/messages", token=tb)
    assert status == 200 and body["messages"] == [message]
    assert carol.request({"action": "history", "room": expected_id}, "error")["code"] == "forbidden"
    assert carol.request({"action": "join", "room": expected_id}, "error")["code"] == "forbidden"
    assert carol.request({"action": "send", "room": expected_id, "text": "x"}, "error")["code"] == "forbidden"
    history = bob.request({"action": "history", "room": expected_id}, "history")
    assert history["messages"] == [message]
    # Retrying a DM is as safe as retrying a room message: answered to the sender only.
    alice.send({"action": "dm", "to": b["username"], "text": "secret", "client_id": "d1"})
    assert alice.expect("message")["message"] == message
    bob.silent("message")
    assert len(api.call("GET", f"/chatrooms/{expected_id}/messages", token=ta)[1]["messages"]) == 1


def test_dm_to_unknown_user_is_not_found(api, ws, trio):
    alice = ws(trio[0][0][0])
    error = alice.request({"action": "dm", "to": unique(), "text": "anyone?", "client_id": "q"}, "error")
    assert error["code"] == "not_found" and error["action"] == "dm" and error["client_id"] == "q"


def test_history_pages_back_and_forward(api, ws, trio):
    (ta, _), _, _ = trio[0]
    room = trio[1]
    alice = ws(ta)
    alice.request({"action": "join", "room": room["id"]}, "joined")
    sent = [alice.request({"action": "send", "room": room["id"], "text": f"n{i}"}, "message")["message"]
            for i in range(7)]
    page = alice.request({"action": "history", "room": room["id"], "limit": 3}, "history")
    assert page["room"] == room["id"] and page["messages"] == sent[4:] and page["more"] is True
    page = alice.request({"action": "history", "room": room["id"], "before": sent[4]["id"], "limit": 3},
                         "history")
    assert page["messages"] == sent[1:4] and page["more"] is True
    page = alice.request({"action": "history", "room": room["id"], "before": sent[1]["id"]}, "history")
    assert page["messages"] == sent[:1] and page["more"] is False
    page = alice.request({"action": "history", "room": room["id"], "after": sent[5]["id"]}, "history")
    assert page["messages"] == sent[6:] and page["more"] is False


def test_rejoin_with_after_returns_exactly_the_missed_messages(api, ws, trio):
    (ta, _), (tb, b), _ = trio[0]
    room = trio[1]
    alice, bob = ws(ta), ws(tb)
    join(room, alice, bob)
    seen = bob.request({"action": "send", "room": room["id"], "text": "before"}, "message")["message"]
    assert alice.expect("message")["message"] == seen
    bob.close()
    assert alice.expect("presence", status="left", user=b["username"])
    missed = [alice.request({"action": "send", "room": room["id"], "text": f"while away {i}"},
                            "message")["message"] for i in range(3)]
    bob = ws(tb)
    joined = bob.request({"action": "join", "room": room["id"], "after": seen["id"]}, "joined")
    assert joined["messages"] == missed and joined["more"] is False
    latest = bob.request({"action": "join", "room": room["id"]}, "joined")
    assert latest["messages"] == [seen, *missed]


def test_typing_goes_to_the_others_in_the_room(api, ws, trio):
    (ta, a), (tb, _), (tc, _) = trio[0]
    room = trio[1]
    alice, bob, carol = ws(ta), ws(tb), ws(tc)
    join(room, alice, bob)
    alice.send({"action": "typing", "room": room["id"]})
    assert bob.expect("typing") == {"type": "typing", "room": room["id"], "user": a["username"]}
    alice.silent("typing")
    carol.silent("typing")
    assert carol.request({"action": "typing", "room": room["id"]}, "error")["code"] == "forbidden"


def test_leave_ends_membership_and_announces(api, ws, trio):
    (ta, a), (tb, b), _ = trio[0]
    room = trio[1]
    alice, bob, bob_phone = ws(ta), ws(tb), ws(tb)
    join(room, alice, bob, bob_phone)
    bob.send({"action": "leave", "room": room["id"]})
    assert bob.expect("left") == {"type": "left", "room": room["id"]}
    assert bob_phone.expect("left") == {"type": "left", "room": room["id"]}
    assert alice.expect("presence", status="left") == {"type": "presence", "room": room["id"],
                                                       "user": b["username"], "status": "left"}
    alice.send({"action": "send", "room": room["id"], "text": "bye"})
    alice.expect("message")
    bob.silent("message")
    assert bob.request({"action": "send", "room": room["id"], "text": "x"}, "error")["code"] == "forbidden"
    status, body, _ = api.call("GET", f"/chatrooms/{room['id']}", token=tb)
    assert body["room"]["members"] == [a["username"]] and body["room"]["member_count"] == 1


def test_presence_lasts_while_any_connection_of_the_user_is_in_the_room(api, ws, trio):
    (ta, _), (tb, b), _ = trio[0]
    room = trio[1]
    alice, bob, bob_phone = ws(ta), ws(tb), ws(tb)
    join(room, alice, bob, bob_phone)
    bob.close()
    alice.silent("presence", seconds=1, status="left")
    bob_phone.close()
    assert alice.expect("presence", status="left")["user"] == b["username"]


@pytest.mark.parametrize("frame, code, action, field", [
    ("not json", "invalid_request", None, None),
    ("[1, 2]", "invalid_request", None, None),
    (json.dumps({"action": "shout", "client_id": "s1"}), "invalid_request", "shout", "action"),
    (json.dumps({"room": "x"}), "invalid_request", None, "action"),
    (json.dumps({"action": "send", "room": "r", "client_id": "c"}), "invalid_request", "send", "text"),
    (json.dumps({"action": "send", "room": "r", "text": 42}), "invalid_request", "send", "text"),
    (json.dumps({"action": "send", "room": "r", "text": "x" * 4001}), "invalid_request", "send", "text"),
    (json.dumps({"action": "send", "room": "r", "text": "   "}), "invalid_request", "send", "text"),
    (json.dumps({"action": "join"}), "invalid_request", "join", "room"),
    (json.dumps({"action": "join", "room": "r", "after": "nope"}), "invalid_request", "join", "after"),
    (json.dumps({"action": "history", "room": "r", "limit": 0}), "invalid_request", "history", "limit"),
    (json.dumps({"action": "history", "room": "r", "limit": "5"}), "invalid_request", "history", "limit"),
    (json.dumps({"action": "dm", "to": "", "text": "x"}), "invalid_request", "dm", "to"),
    (json.dumps({"action": "join", "room": "no-such-room"}), "not_found", "join", None),
])
def test_malformed_frames_get_typed_errors_and_the_connection_stays(api, ws, frame, code, action, field):
    token, _ = api.register()
    client = ws(token)
    error = client.request(frame, "error")
    assert error["code"] == code and error["action"] == action and error["message"]
    if field:
        assert field in error["fields"]
    client.request({"action": "ping"}, "pong")


def test_error_echoes_the_client_id(api, ws):
    token, _ = api.register()
    client = ws(token)
    error = client.request({"action": "send", "room": "r", "text": "", "client_id": "abc"}, "error")
    assert error["client_id"] == "abc" and error["action"] == "send"


def test_gone_connections_are_removed_without_failing_the_send(api, ws, trio, server):
    """A connection API Gateway answers 410 for is dropped from the room; the send still works."""
    (ta, _), (tb, b), _ = trio[0]
    room = trio[1]
    alice, bob = ws(ta), ws(tb)
    join(room, alice, bob)
    # Kill bob's socket abruptly, so the server learns of it only when posting to it.
    bob.socket.socket.close()
    message = alice.request({"action": "send", "room": room["id"], "text": "still works"}, "message")
    assert message["message"]["text"] == "still works"
    deadline = time.monotonic() + 10
    while b["username"] in api.call("GET", "/users/online", token=ta)[1]["users"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_management_api_answers_gone_for_unknown_connections(server):
    assert management_call(server, "POST", "unknownid=", b"{}")[0] == 410


def test_frames_over_32_kb_close_the_connection_like_api_gateway(api, ws):
    token, _ = api.register()
    client = ws(token)
    client.send(json.dumps({"action": "ping", "pad": "x" * 40_000}))
    with pytest.raises(Exception):
        client.request({"action": "ping"}, "pong")
    assert client.socket.close_code == 1009


def test_idle_and_maximum_connection_limits(tmp_path):
    """API Gateway closes idle connections (10 min) and any connection at 2 h: shortened here."""
    from support import Api
    with local_server(tmp_path, "--idle-timeout", "1", "--max-connection", "3") as base:
        api = Api(base)
        token, _ = api.register()
        idle = Ws(base, token)
        started = time.monotonic()
        with pytest.raises(Exception):
            idle.socket.recv(timeout=5)
        assert idle.socket.close_code == 1001 and time.monotonic() - started < 3
        busy = Ws(base, token)
        started = time.monotonic()
        with pytest.raises(Exception):
            while True:
                busy.request({"action": "ping"}, "pong")
                time.sleep(0.3)
        assert busy.socket.close_code == 1001 and 2.5 < time.monotonic() - started < 6
