"""The local server as an attack surface and as a stand-in for API Gateway: its data files,
its management API, per-connection buffering and concurrent REST calls."""
import base64
import datetime
import json
import os
import socket
import stat
import threading
import time
import unittest.mock
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.credentials import Credentials
from websockets.sync.client import connect

from support import Api, Ws, local_server, management_call, management_headers, open_connections


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_readable_by_their_owner_only(tmp_path):
    """The snapshot holds password hashes and jwt-secret signs every token."""
    data = tmp_path / "data"
    with local_server(data) as base:
        Api(base).register()
        snapshot = data / "dynamodb.json"
        deadline = time.monotonic() + 10
        while not snapshot.exists():
            assert time.monotonic() < deadline, "no snapshot written"
            time.sleep(0.1)
    assert _mode(data) == 0o700
    assert _mode(snapshot) == 0o600
    assert _mode(data / "jwt-secret") == 0o600
    assert not (data / "dynamodb.tmp").exists()


def test_a_body_over_the_size_limit_gets_the_contracts_413(api):
    status, body, headers = api.call("POST", "/auth/register", raw=b"x" * (1024 * 1024 + 1))
    assert status == 413
    assert body["error"]["code"] == "too_large" and body["error"]["message"]
    assert headers["Content-Type"].startswith("application/json")


# -- the management API: only the app's signed callers -----------------------------------
def _first_connection_of(server, username: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        mine = [item["ConnectionId"] for item in open_connections(server) if item["Username"] == username]
        if mine:
            return mine[0]
        assert time.monotonic() < deadline, f"{username} has no connection"
        time.sleep(0.05)


def _unsigned(server, method, connection_id, data=None, headers=None):
    url = f"{server}/@connections/{urllib.parse.quote(connection_id, safe='')}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


FORGED = json.dumps({"type": "message", "message": {"text": "forged"}}).encode()


@pytest.fixture
def victim(api, ws, server):
    """A connected user's client and its connection id."""
    token, user = api.register()
    client = ws(token)
    return client, _first_connection_of(server, user["username"])


def _untouched(client) -> None:
    """Got no forged frame and is still connected."""
    client.silent("message", seconds=0.3)
    assert client.request({"action": "ping"}, "pong")


def test_unsigned_or_badly_signed_management_calls_are_refused(victim, server):
    client, connection_id = victim
    url = f"{server}/@connections/{urllib.parse.quote(connection_id, safe='')}"
    assert _unsigned(server, "POST", connection_id, FORGED) == 403
    assert _unsigned(server, "DELETE", connection_id) == 403
    assert _unsigned(server, "GET", connection_id) == 403
    # Another secret, another access key, or a body other than the one signed.
    assert management_call(server, "POST", connection_id, FORGED,
                           credentials=Credentials("local", "guessed", "local"))[0] == 403
    assert management_call(server, "POST", connection_id, FORGED,
                           credentials=Credentials("other", "local", "local"))[0] == 403
    signed_for_ping = management_headers("POST", url, b'{"type":"pong"}')
    assert _unsigned(server, "POST", connection_id, FORGED, signed_for_ping) == 403
    # A signature too old to be fresh.
    with unittest.mock.patch("botocore.auth.get_current_datetime",
                             return_value=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)):
        stale = management_headers("POST", url, FORGED)
    assert _unsigned(server, "POST", connection_id, FORGED, stale) == 403
    _untouched(client)


def test_a_browser_page_cannot_post_or_close_even_with_a_valid_signature(victim, server):
    """A cross-origin POST needs no preflight; boto3 never sends Origin, browsers always do."""
    client, connection_id = victim
    origin = {"Origin": "https://evil.example"}
    assert management_call(server, "POST", connection_id, FORGED, headers=origin)[0] == 403
    assert management_call(server, "DELETE", connection_id, headers=origin)[0] == 403
    request = urllib.request.Request(server + "/@connections", headers=origin)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    _untouched(client)


def test_signed_management_calls_post_and_close(victim, server):
    client, connection_id = victim
    assert management_call(server, "POST", connection_id, b'{"type":"hello"}')[0] == 200
    client.expect("hello")
    status, body = management_call(server, "GET", connection_id)
    assert status == 200 and "ConnectedAt" in json.loads(body)
    assert management_call(server, "DELETE", connection_id)[0] == 204
    assert management_call(server, "POST", connection_id, b'{"type":"hello"}')[0] == 410


def test_the_apps_own_boto3_client_is_accepted_for_any_connection_id(server):
    """Ids are base64: '/', '+' and '=' travel percent-encoded, and the signature covers them so."""
    import boto3
    from botocore.config import Config
    from localserver.gateway import LOCAL_CREDENTIALS, MANAGEMENT_REGION
    client = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS.access_key, aws_secret_access_key=LOCAL_CREDENTIALS.secret_key,
        aws_session_token=LOCAL_CREDENTIALS.token, region_name=MANAGEMENT_REGION,
    ).client("apigatewaymanagementapi", endpoint_url=server, config=Config(retries={"max_attempts": 0}))
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="a/b+c=", Data=b"{}")
    assert management_call(server, "DELETE", "a/b+c=")[0] == 410


# -- a client that stops reading holds up nobody else ------------------------------------
# Random, so that permessage-deflate cannot shrink it.
BIG_FRAME = json.dumps({"type": "filler", "pad": base64.b64encode(os.urandom(75_000)).decode()}).encode()


def _stalled_reader(base: str, token: str):
    """A WebSocket client that reads nothing after its first frame: a tiny receive window, and
    websockets stops reading its socket once one frame waits unread."""
    port = int(base.rsplit(":", 1)[1])
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    return connect(base.replace("http", "ws", 1) + "/ws?token=" + token, sock=raw, max_queue=1,
                   ping_interval=None, open_timeout=10)


def _timed_post(base, connection_id, data) -> tuple[int, float]:
    started = time.monotonic()
    status, _ = management_call(base, "POST", connection_id, data, timeout=10)
    return status, time.monotonic() - started


def test_a_client_that_stops_reading_is_closed_and_delays_no_other_post(api, ws, server):
    token, user = api.register()
    healthy = ws(token)
    healthy_id = _first_connection_of(server, user["username"])
    stalled_token, stalled_user = api.register()
    stalled = _stalled_reader(server, stalled_token)
    stalled_id = _first_connection_of(server, stalled_user["username"])
    stalled_posts, healthy_posts = [], []
    for _ in range(300):  # 30 MB: more than the kernel's buffers and the outbox together
        status, seconds = _timed_post(server, stalled_id, BIG_FRAME)
        stalled_posts.append(seconds)
        healthy_posts.append(_timed_post(server, healthy_id, b'{"type":"hello"}'))
        healthy.expect("hello")
        if status == 410:
            break
        assert status == 200
    print(f"\nstalled reader closed after {len(stalled_posts)} posts of 100 KB; slowest post to it "
          f"{max(stalled_posts) * 1000:.0f} ms, to a healthy connection {max(s for _, s in healthy_posts) * 1000:.0f} ms")
    assert status == 410, "a client that never reads was never closed"
    assert max(stalled_posts) < 1 and max(seconds for _, seconds in healthy_posts) < 1
    assert all(status == 200 for status, _ in healthy_posts)
    assert management_call(server, "GET", stalled_id)[0] == 410
    deadline = time.monotonic() + 10
    while stalled_id in [item["ConnectionId"] for item in open_connections(server)]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stalled.close()


def test_a_stalled_room_member_does_not_slow_the_others_sends(tmp_path):
    """The outbox here is big enough that the stalled member stays connected, stalled, until the
    server closes it."""
    with local_server(tmp_path, "--outbox-bytes", str(64 * 1024 * 1024), "--send-timeout", "60") as base:
        api = Api(base)
        token, _ = api.register()
        stalled_token, stalled_user = api.register()
        room = api.create_room(token)
        victim = Ws(base, token)
        victim.request({"action": "join", "room": room["id"]}, "joined")
        stalled = _stalled_reader(base, stalled_token)
        stalled.send(json.dumps({"action": "join", "room": room["id"]}))
        stalled_id = _first_connection_of(base, stalled_user["username"])
        deadline = time.monotonic() + 10
        while stalled_user["username"] not in api.call("GET", f"/chatrooms/{room['id']}", token=token)[1]["room"][
                "members"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(60):  # 6 MB: the kernel's buffers are full; the rest waits in the outbox
            assert _timed_post(base, stalled_id, BIG_FRAME)[0] == 200
        round_trips = []
        for number in range(3):
            started = time.monotonic()
            victim.request({"action": "send", "room": room["id"], "text": f"still fast {number}"}, "message")
            round_trips.append(time.monotonic() - started)
        print(f"\nvictim's send round-trips with a stalled member: {[round(s * 1000) for s in round_trips]} ms")
        assert max(round_trips) < 1
        assert stalled_id in [item["ConnectionId"] for item in open_connections(base)], "the stall was not there"
        # The server's close does not wait behind the frames the member will never read.
        started = time.monotonic()
        assert management_call(base, "DELETE", stalled_id, timeout=10)[0] == 204
        assert time.monotonic() - started < 1
        assert management_call(base, "POST", stalled_id, b"{}")[0] == 410
        victim.close()
        stalled.close()



# -- REST calls run concurrently, as Lambda runs them --------------------------------------
def test_rest_calls_do_not_queue_behind_password_hashing(tmp_path):
    """bcrypt at its production cost: 16 registrations at once must not hold up /api/me."""
    with local_server(tmp_path, env={"BCRYPT_ROUNDS": "12"}) as base:
        api = Api(base)
        token, _ = api.register()
        with ThreadPoolExecutor(max_workers=16) as pool:
            registrations = [pool.submit(api.register) for _ in range(16)]
            time.sleep(0.3)
            waits = []
            while not all(future.done() for future in registrations) and len(waits) < 5:
                started = time.monotonic()
                assert api.call("GET", "/me", token=token)[0] == 200
                waits.append(time.monotonic() - started)
            for future in registrations:
                future.result()
        print(f"\n/api/me during 16 registrations at bcrypt cost 12: {[round(w * 1000) for w in waits]} ms")
        assert waits and max(waits) < 1


def test_concurrent_rest_calls_each_see_their_own_request(api):
    """Chalice keeps the request on the app object: requests served at once must not mix."""
    users = [api.register() for _ in range(12)]

    def me(index):
        token, user = users[index % len(users)]
        status, body, _ = api.call("GET", "/me", token=token)
        return status, body["user"]["username"], user["username"]

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(me, range(240)))
    assert all(status == 200 and got == expected for status, got, expected in answers)


def test_each_thread_has_its_own_current_request():
    """What the concurrent REST calls rest on, without timing luck: two threads set the app's
    request and read it back after both have set it."""
    from chalice import Chalice

    from localserver.gateway import serve_requests_per_thread
    app = Chalice(app_name="per-thread")
    serve_requests_per_thread(app)
    serve_requests_per_thread(app)  # idempotent: the Gateway may be built twice for one app
    both_set = threading.Barrier(2)

    def serve(request):
        app.current_request = request
        app.lambda_context = request
        both_set.wait(timeout=5)
        return app.current_request, app.lambda_context

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(serve, ["first", "second"])) == [("first", "first"), ("second", "second")]
    assert app.current_request is None


def test_a_url_longer_than_api_gateway_takes_gets_the_contracts_error(api):
    token, _ = api.register()
    status, body, _ = api.call("GET", "/chatrooms?cursor=" + "0" * 9000, token=token)
    assert status == 400 and body["error"]["code"] == "invalid_request"
