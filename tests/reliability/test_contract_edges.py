"""Single, deterministic reproductions of what the fuzzers and the soak found, each naming the
contract line it holds the code to."""
import json
import threading

from test_aws_faults import DOMAIN, STAGE, World, world  # noqa: F401 - the in-process fixture

from chalicelib.models import SendFrame
from chalicelib.runtime import Runtime

from support import Ws


def test_join_after_returns_a_message_committed_after_a_newer_one(world):  # noqa: F811
    """PROTOCOL.md: "Reconnecting clients re-join with after = the last message id they saw and get
    exactly what they missed". Message ids are made before the write, so two overlapping sends
    could store an older id after a newer one was delivered, and a client resuming after the
    newer one would never get it; the write's condition on the conversation's last id prevents it.
    Here: alice's write is held until bob's message, sent through another Lambda container,
    has reached carol and carol has dropped. (Within one container sends to a conversation
    take turns, so the race needs two.)"""
    release, held = threading.Event(), threading.Event()

    def hold_alices_write(request, **_):
        if threading.current_thread().name == "alice" and not release.is_set():
            held.set()
            release.wait(10)
    world.db.meta.events.register_first("before-send.dynamodb.TransactWriteItems", hold_alices_write)
    alice = threading.Thread(name="alice", target=world.frame, args=(
        "c-alice", {"action": "send", "room": world.room, "text": "from alice", "client_id": "a1"}))
    alice.start()
    assert held.wait(10)
    other_container = Runtime(world.runtime.settings).chat
    other_container.handle("c-bob", SendFrame(action="send", room=world.room, text="from bob", client_id="b1"),
                           world.runtime.notifier(DOMAIN, STAGE))
    seen = [frame["message"] for frame in world.posted("c-carol", "message")]
    assert [message["text"] for message in seen] == ["from bob"]
    world.event("$disconnect", "c-carol")
    release.set()
    alice.join(10)
    stored = world.stored()
    # Ids and seqs follow commit order: alice's write, held past bob's, was given an id after his.
    assert [(m["text"], m["seq"]) for m in stored] == [("from bob", 1), ("from alice", 2)]
    assert world.event("$connect", "c-carol-2", token=world.tokens["carol"]) == {"statusCode": 200}
    world.frame("c-carol-2", {"action": "join", "room": world.room, "after": seen[-1]["id"]})
    joined = world.posted("c-carol-2", "joined")[0]
    missed = {message["id"] for message in stored} - {message["id"] for message in seen}
    assert missed <= {message["id"] for message in joined["messages"]}, (
        "carol re-joined with after = the newest id she saw and never gets alice's message: "
        f"stored {[m['id'] + ' ' + m['text'] for m in stored]}, joined page {joined['messages']}")


def test_history_with_both_cursors_says_when_more_lie_between(api, ws):
    """docs/api.md: `more` says whether messages lie beyond the page. With `after` and `before`
    both given, the query's BETWEEN includes `after` itself, which takes one of the limit+1
    slots (chalicelib/storage.py messages_page), so `more` is false with messages left."""
    token, _ = api.register()
    room = api.create_room(token)["id"]
    client = ws(token)
    client.request({"action": "join", "room": room}, "joined")
    ids = [client.request({"action": "send", "room": room, "text": f"m{i}"}, "message")["message"]["id"]
           for i in range(5)]
    _, page, _ = api.call("GET", f"/chatrooms/{room}/messages?after={ids[0]}&before={ids[4]}&limit=2", token=token)
    assert [m["text"] for m in page["messages"]] == ["m1", "m2"]
    assert page["more"] is True, "m3 lies between the cursors too"


def test_deeply_nested_json_is_invalid_request_not_a_500(api):
    """PROTOCOL.md: "Never a 500 for bad input". json.loads raises RecursionError (not
    ValueError) on deep nesting; chalicelib/models.py parse_json_body lets it through."""
    body = b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}'
    status, answer, _ = api.call("POST", "/auth/login", raw=body)
    assert status == 400 and answer["error"]["code"] == "invalid_request", (status, answer)


def test_deeply_nested_frame_is_invalid_request_not_internal(api, ws):
    token, _ = api.register()
    client = ws(token)
    error = client.request('{"action":"ping","pad":' + "[" * 5000 + "]" * 5000 + "}", "error")
    assert error["code"] == "invalid_request", error
    client.request({"action": "ping"}, "pong")


def test_an_action_or_client_id_that_is_not_unicode_still_gets_an_error_frame(api, server):
    """A JSON escape like \\ud800 (a lone surrogate) is valid JSON but not encodable as UTF-8. The
    error frame echoes `action`/`client_id`; chalicelib/notifier.py encode() then raises
    UnicodeEncodeError and the client gets no answer (API Gateway: "Internal server error")."""
    token, _ = api.register()
    client = Ws(server, token)
    try:
        for frame in ({"action": "shout\ud800"}, {"action": "send", "room": "r", "text": "", "client_id": "c\udc00"}):
            client.send(json.dumps(frame))
            answer = json.loads(client.socket.recv(timeout=10))
            assert answer.get("type") == "error" and answer["code"] == "invalid_request", answer
        client.request({"action": "ping"}, "pong")
    finally:
        client.close()
