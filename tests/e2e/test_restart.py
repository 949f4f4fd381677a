"""Users, rooms and messages survive a restart of the local server; connections do not."""
from support import Api, Ws, free_port, local_server


def test_data_survives_a_restart(tmp_path):
    port = free_port()
    with local_server(tmp_path, port=port) as base:
        api = Api(base)
        token, user = api.register(password="kept secret")
        room = api.create_room(token)
        client = Ws(base, token)
        client.request({"action": "join", "room": room["id"]}, "joined")
        sent = client.request({"action": "send", "room": room["id"], "text": "still here?"}, "message")["message"]
        client.close()
    with local_server(tmp_path, port=port) as base:
        api = Api(base)
        # The JWT secret is kept too, so the old token still works.
        status, body, _ = api.call("GET", "/me", token=token)
        assert status == 200 and body["user"]["username"] == user["username"]
        status, body, _ = api.call("POST", "/auth/login", {"username": user["username"], "password": "kept secret"})
        assert status == 200
        status, body, _ = api.call("GET", f"/chatrooms/{room['id']}/messages", token=token)
        assert body["messages"] == [sent]
        status, body, _ = api.call("GET", f"/chatrooms/{room['id']}", token=token)
        assert body["room"]["members"] == [user["username"]] and body["room"]["last_message_at"] == sent["ts"]
        # Connections ended with the old server, as API Gateway's would.
        assert api.call("GET", "/users/online", token=token)[1]["users"] == []
        status, _, _ = api.call("POST", "/auth/register", {"username": user["username"], "email": "x@example.com",
                                                            "password": "whatever1"})
        assert status == 409
