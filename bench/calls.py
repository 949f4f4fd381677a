"""calls: the AWS calls behind each user action, counted through botocore's event hooks
while the real handlers (app.ws_message, app.ws_connect, ..., the REST routes) run
against moto.

    python -m bench.calls [--size full|tiny] [--design query|scan]
"""
import json
import time

from bench import cli
from bench.harness import app_over_moto, target, ws_event
from localserver.events import lambda_context

ROOM_SIZES = {"full": (2, 100, 1000), "tiny": (2, 5, 12)}
SEND_CALL_LIMIT = 3


def run(size: str = "full", design: str = "query") -> dict:
    from moto import mock_aws
    started = time.perf_counter()
    with mock_aws():
        _, recorder, world = app_over_moto(design)
        import app as chat_app
        from chalice.config import Config
        from chalice.local import LocalGateway
        rest = LocalGateway(chat_app.app, Config.create(app_name="chat", lambda_timeout=29, lambda_memory_size=512))

        actions = {}

        def measure(name, call, expect_posts=None):
            with recorder.measure():
                outcome = call()
            actions[name] = recorder.snapshot()
            if expect_posts is not None and actions[name]["post_to_connection"] != expect_posts:
                raise AssertionError(f"{name}: {actions[name]['post_to_connection']} posts, "
                                     f"expected {expect_posts}")
            return outcome

        def ws(connection_id, route_key, frame=None, query=None):
            def call():
                return getattr(chat_app, {"$connect": "ws_connect", "$disconnect": "ws_disconnect"}
                               .get(route_key, "ws_message"))(ws_event(route_key, connection_id, frame, query),
                                                              lambda_context())
            return call

        def http(method, path, body=None, token=None):
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"

            def call():
                response = rest.handle_request(method=method, path=path, headers=headers,
                                               body=json.dumps(body).encode() if body is not None else b"")
                if response["statusCode"] >= 300:
                    raise AssertionError(f"{method} {path}: {response['statusCode']} {response['body']}")
                return json.loads(response["body"])
            return call

        # send into rooms of 2, 100 and 1,000 joined connections (one per user)
        rooms = {}
        for count in ROOM_SIZES[size]:
            users = world.users(count, prefix=f"r{count}u")
            room_id = world.room(users[0])
            connections = world.connections(users, [room_id], members=count == 2)
            rooms[count] = (room_id, users, connections)
            measure(f"send room={count}", ws(connections[0], "send", {
                "action": "send", "room": room_id, "text": "hello, room", "client_id": f"c-{count}"}),
                expect_posts=count)
        small_room, (alice, bob), (alice_conn, bob_conn) = rooms[2]
        # A retry is answered to its sender only: the room got the message the first time.
        measure("send retry (same client_id) room=2", ws(alice_conn, "send", {
            "action": "send", "room": small_room, "text": "hello, room", "client_id": "c-2"}), expect_posts=1)

        measure("dm", ws(alice_conn, "dm", {"action": "dm", "to": bob, "text": "hi bob", "client_id": "d-1"}),
                expect_posts=2)

        # join: a first join (becomes a member; the last 50 of 60 messages), then a
        # reconnect that joins again with `after` (the 10 it missed)
        history = world.messages(small_room, alice, 60)
        (dave,) = world.users(1, prefix="dave")
        (dave_conn,) = world.connections([dave])
        measure("join (new member)", ws(dave_conn, "join", {"action": "join", "room": small_room}),
                expect_posts=3)
        # His first connection is still open, so presence does not change: only he hears.
        (dave_conn2,) = world.connections([dave])
        measure("join (after, rejoin)", ws(dave_conn2, "join", {"action": "join", "room": small_room,
                                                                "after": history[49]}), expect_posts=1)
        measure("history", ws(alice_conn, "history", {"action": "history", "room": small_room}),
                expect_posts=1)

        (eve,) = world.users(1, prefix="eve")
        measure("$connect", ws("eveConn0001=", "$connect", query={"token": world.token(eve)}))

        # $disconnect of a connection in 5 rooms, each with one other user present
        (frank,) = world.users(1, prefix="frank")
        others = world.users(5, prefix="other")
        frank_rooms = [world.room(other) for other in others]
        (frank_conn,) = world.connections([frank], frank_rooms)
        for other, room_id in zip(others, frank_rooms):
            world.connections([other], [room_id])
        measure("$disconnect (in 5 rooms)", ws(frank_conn, "$disconnect"), expect_posts=5)

        measure("login (username)", http("POST", "/auth/login",
                                         {"username": alice, "password": "correct horse battery"}))
        measure("login (email)", http("POST", "/auth/login",
                                      {"username": f"{alice}@example.com", "password": "correct horse battery"}))
        room_count = len(rooms) + len(frank_rooms)
        listed = measure(f"room list ({room_count} rooms)", http("GET", "/chatrooms", token=world.token(alice)))
        assert len(listed["rooms"]) == room_count, listed

    targets = [target(f"{name}: Scans", action["scans"], 0, action["scans"] == 0)
               for name, action in actions.items()]
    targets += [target(f"{name}: DynamoDB calls", action["dynamodb_calls"], SEND_CALL_LIMIT,
                       action["dynamodb_calls"] <= SEND_CALL_LIMIT)
                for name, action in actions.items() if name.startswith("send room=")]
    return {"benchmark": "calls", "size": size, "design": design, "actions": actions, "targets": targets,
            "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    cli.main(run, designs=True)
