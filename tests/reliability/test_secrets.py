"""Secrets and personal data: no password, bcrypt hash or token in any log line; emails only
to their owner; the site's security headers.

The log checks read everything the shared reliability server printed during the session
(the fuzzers, the soak and the matrix included, as the files run in order) after driving
register, login, failed logins, WebSocket flows and refused handshakes here, and the
in-process logging of app.py's handlers (all loggers at DEBUG except the AWS SDK's wire
logs, which never run at DEBUG in a deployed stage).
"""
import json
import logging
import re
import time
import urllib.request

import jwt
import pytest
from chalice.config import Config
from chalice.local import LocalGateway
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from localserver.events import lambda_context, websocket_event
from support import Ws, in_process_app, unique

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
BCRYPT_SHAPE = re.compile(r"\$2[aby]\$\d\d\$")


def _secret_free(text: str, secrets: list[str]) -> list[str]:
    found = [secret[:12] + "…" for secret in secrets if secret and secret in text]
    found += [f"bcrypt hash {match.group()}" for match in BCRYPT_SHAPE.finditer(text)]
    found += [f"token {match.group()[:20]}…" for match in JWT_SHAPE.finditer(text)]
    return found


def _drive_everything(api, base) -> list[str]:
    """Every flow that handles a secret; returns the secrets it used."""
    password, other_password = "s3cret-" + unique(), "pw-" + unique()
    token, user = api.register(password=password)
    friend_token, friend = api.register(password=other_password)
    used = [password, other_password, token, friend_token]
    for body in ({"username": user["username"], "password": password},
                 {"username": user["email"], "password": password}):
        status, answer, _ = api.call("POST", "/auth/login", body)
        assert status == 200
        used.append(answer["token"])
    for body in ({"username": user["username"], "password": password + "x"},
                 {"username": unique(), "password": password},
                 {"username": password, "password": password},  # a password typed into the name field
                 {"username": user["username"], "password": "é" * 80}):
        status, _, _ = api.call("POST", "/auth/login", body)
        assert status in (400, 401)
    status, _, _ = api.call("POST", "/auth/register", {"username": unique(), "email": "x@example.com",
                                                      "password": "short"})
    assert status == 400
    status, _, _ = api.call("POST", "/auth/register", raw=b'{"username": "' + password.encode() + b'", "password": ')
    assert status == 400
    # Tokens in URLs and headers that the server refuses.
    expired = jwt.encode({"sub": user["username"], "exp": int(time.time()) - 5}, "z" * 40, algorithm="HS256")
    used.append(expired)
    for bad in (expired, token + "x"):
        with pytest.raises(InvalidStatus):
            connect(base.replace("http", "ws", 1) + "/ws?token=" + bad, open_timeout=10)
        status, _, _ = api.call("GET", "/me", token=bad)
        assert status == 401
    room = api.create_room(token)
    client, other = Ws(base, token), Ws(base, friend_token)
    try:
        for ws in (client, other):
            ws.request({"action": "join", "room": room["id"]}, "joined")
        client.request({"action": "send", "room": room["id"], "text": f"my password is {password}"}, "message")
        client.request({"action": "dm", "to": friend["username"], "text": "hi"}, "message")
        # Frames that fail, carrying secrets where a careless log line would print them.
        client.request({"action": "send", "room": "nope", "text": token, "client_id": password}, "error")
        client.request({"action": "shout", "token": token, "password": password}, "error")
        client.send('{"action":"send","room":"x","text":' + "[" * 5000)  # the handler fails: logged
        client.send(json.dumps({"action": "send", "client_id": token + "\ud800"}))  # so does the echo
        client.request({"action": "ping"}, "pong")
    finally:
        client.close()
        other.close()
    return used


def test_no_secret_in_the_local_servers_output(api, server, server_output):
    used = _drive_everything(api, server)
    time.sleep(1.5)  # the server's log is written as it goes; let the last lines land
    text = server_output.read_text()
    assert text, "the server printed nothing at all: is its output captured?"
    assert not _secret_free(text, used), _secret_free(text, used)


def test_no_secret_in_the_handlers_own_logging(caplog):
    """The same flows in process, every app logger at DEBUG, AWS failing once (a warning)."""
    import app as handlers
    caplog.set_level(logging.DEBUG)
    for noisy in ("botocore", "boto3", "urllib3", "moto", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    with in_process_app():
        rest = LocalGateway(handlers.app, Config.create(app_name="chat", lambda_timeout=29, lambda_memory_size=512))

        def call(method, path, body=None, token=None):
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"
            response = rest.handle_request(method=method, path=path, headers=headers,
                                           body=json.dumps(body).encode() if body is not None else b"")
            return response["statusCode"], json.loads(response["body"])
        password = "in-process-" + unique()
        status, registered = call("POST", "/auth/register", {"username": "alice", "email": "a@example.com",
                                                             "password": password})
        assert status == 201
        token = registered["token"]
        used = [password, token]
        for attempt in (password, password + "!"):
            call("POST", "/auth/login", {"username": "alice", "password": attempt})
        call("GET", "/me", token=token + "x")
        context = lambda_context()

        def event(route, body=None, query=None):
            return websocket_event(route, "c1", domain_name="abc123.execute-api.us-east-1.amazonaws.com",
                                   stage="test", api_id="abc123", body=body, query=query)
        handlers.ws_connect(event("$connect", query={"token": token + "x"}), context)
        handlers.ws_connect(event("$connect", query={"token": token}), context)
        handlers.ws_message(event("$default", '{"action":"send","room":"r","text":"' + password + '","x":' + "[" * 5000),
                            context)
        handlers.ws_message(event("send", json.dumps({"action": "send", "room": "r", "text": "x",
                                                     "client_id": password})), context)
        handlers.ws_disconnect(event("$disconnect"), context)
    text = "\n".join(f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    assert not _secret_free(text, used), _secret_free(text, used)


def test_emails_reach_only_their_owner(server, api):
    owner_token, owner = api.register()
    other_token, other = api.register()
    room = api.create_room(owner_token)
    watcher = Ws(server, other_token)
    owner_ws = Ws(server, owner_token)
    seen = []
    try:
        seen.append(watcher.request({"action": "join", "room": room["id"]}, "joined"))
        seen.append(owner_ws.request({"action": "join", "room": room["id"]}, "joined"))
        seen.append(watcher.expect("presence"))
        owner_ws.send({"action": "send", "room": room["id"], "text": "hello"})
        seen.append(watcher.expect("message"))
        owner_ws.send({"action": "dm", "to": other["username"], "text": "direct"})
        seen.append(watcher.expect("message"))
        owner_ws.send({"action": "typing", "room": room["id"]})
        seen.append(watcher.expect("typing"))
    finally:
        watcher.close()
        owner_ws.close()
    for path in ("/chatrooms", f"/chatrooms/{room['id']}", f"/chatrooms/{room['id']}/messages", "/users/online",
                 "/me/rooms"):
        seen.append(api.call("GET", path, token=other_token)[1])
    assert owner["email"] not in json.dumps(seen)
    assert api.call("GET", "/me", token=owner_token)[1]["user"]["email"] == owner["email"]


@pytest.mark.parametrize("path", ["/", "/index.html", "/config.json", "/css/app.css", "/favicon.svg", "/nope.html"])
def test_the_site_sends_security_headers(server, path):
    request = urllib.request.Request(server + path)
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:  # a 404 carries them too
        response = error
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    policy = headers["Content-Security-Policy"]
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert server.replace("http", "ws", 1) in directives["connect-src"]
