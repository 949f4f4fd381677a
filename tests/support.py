"""Drives the app as its users do: the local server in a process, REST and WebSocket clients."""
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent


# The local server's settings for tests: a cheap bcrypt, and limits far above what tests send
# (the rate-limit tests pass lower ones).
SERVER_ENVIRONMENT = {"BCRYPT_ROUNDS": "4", "WS_RATE_LIMIT": "1000", "WS_TYPING_LIMIT": "1000",
                      "WS_ROOM_LIMIT": "1000", "LOGIN_FAILURE_LIMIT": "1000", "LOGIN_ACCOUNT_FAILURE_LIMIT": "10000",
                      "LOGIN_ADDRESS_FAILURE_LIMIT": "10000", "ROOM_CREATE_LIMIT": "10000", "REGISTER_LIMIT": "10000"}
TEST_SECRET = "test-secret-that-is-at-least-32-bytes-long!!"


def settings_for_tests(**changes):
    """The in-process tests' settings: tables named test-*, a cheap bcrypt, a fixed secret
    and limits far above what tests send; `changes` replace fields."""
    from chalicelib.config import Budget, LoginLimits, Settings, Tables
    settings = Settings(tables=Tables.prefixed("test"), bcrypt_rounds=4, jwt_secret=TEST_SECRET,
                        frame_budget=Budget(limit=1000, window_seconds=10),
                        typing_budget=Budget(limit=1000, window_seconds=10),
                        room_budget=Budget(limit=1000, window_seconds=10),
                        create_room_budget=Budget(limit=10_000, window_seconds=3600),
                        register_budget=Budget(limit=10_000, window_seconds=3600),
                        login_limits=LoginLimits(per_pair=Budget(limit=1000, window_seconds=900),
                                                 per_account=10_000, per_address=10_000))
    return dataclasses.replace(settings, **changes)


@contextlib.contextmanager
def in_process_app(**changes):
    """app.py's handlers over moto in this process: a Runtime of the test settings (with
    `changes`), its tables made, installed as the handlers' runtime; yields it."""
    import boto3
    from moto import mock_aws

    from chalicelib import runtime
    from localserver.dynamo import create_tables
    with mock_aws():
        built = runtime.Runtime(settings_for_tests(**changes))
        create_tables(boto3.client("dynamodb"), built.settings.tables)
        runtime.use(built)
        try:
            yield built
        finally:
            runtime.use(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def local_server(data_dir: Path, *extra_args: str, port: int | None = None, env: dict | None = None,
                 output: Path | None = None):
    """Runs `python -m localserver` and yields its base URL; stops it with Ctrl-C (SIGINT).
    `env` adds to the environment (e.g. lower rate limits); `output` is a file that gets
    what the server prints (otherwise a pipe that is read only if it fails to start)."""
    port = port or free_port()
    env = {**os.environ, **SERVER_ENVIRONMENT, "PYTHONUNBUFFERED": "1", **(env or {})}
    sink = output.open("a") if output else subprocess.PIPE
    process = subprocess.Popen(
        [sys.executable, "-m", "localserver", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), *extra_args],
        cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/config.json", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    printed = output.read_text() if output else process.stdout.read()
                    raise RuntimeError("local server did not start:\n" + printed)
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output:
            sink.close()


class Api:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None,
             headers: dict | None = None):
        """Returns (status, parsed JSON body, headers)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + "/api" + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null"), response.headers
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null"), error.headers

    def register(self, username: str | None = None, password: str = "correct horse"):
        username = username or unique()
        status, body, _ = self.call("POST", "/auth/register", {
            "username": username, "email": f"{username}@example.com", "password": password})
        assert status == 201, body
        return body["token"], body["user"]

    def create_room(self, token: str, name: str | None = None) -> dict:
        status, body, _ = self.call("POST", "/chatrooms", {"name": name or unique("room ")}, token)
        assert status == 201, body
        return body["room"]


class Ws:
    """A WebSocket client that keeps frames it was not waiting for, so tests can ask in any order."""

    def __init__(self, base: str, token: str):
        url = base.replace("http", "ws", 1) + "/ws?token=" + token
        self.socket = connect(url, open_timeout=10, max_size=None)
        self.pending: list[dict] = []

    def send(self, frame) -> None:
        self.socket.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    def expect(self, kind: str, timeout: float = 10, **fields) -> dict:
        def matches(frame):
            return frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())
        for frame in self.pending:
            if matches(frame):
                self.pending.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame {fields}; got {self.pending}")
            try:
                frame = json.loads(self.socket.recv(timeout=remaining))
            except TimeoutError:
                raise AssertionError(f"no {kind} frame {fields}; got {self.pending}") from None
            if matches(frame):
                return frame
            self.pending.append(frame)

    def request(self, frame: dict, kind: str, **fields) -> dict:
        self.send(frame)
        return self.expect(kind, **fields)

    def silent(self, kind: str, seconds: float = 0.5, **fields) -> None:
        """Asserts that no such frame arrives within `seconds`."""
        try:
            frame = self.expect(kind, timeout=seconds, **fields)
        except AssertionError:
            return
        raise AssertionError(f"unexpected frame {frame}")

    def close(self) -> None:
        self.socket.close()


def open_connections(base: str) -> list[dict]:
    """The local server's open connections (its loopback-only `GET /@connections`)."""
    with urllib.request.urlopen(base + "/@connections", timeout=10) as response:
        return json.loads(response.read())["Connections"]


def management_headers(method: str, url: str, data: bytes = b"", credentials=None) -> dict:
    """The headers that SigV4-sign a management API request as the app's boto3 client signs it
    (service execute-api, the local server's credentials unless `credentials` are given)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from localserver.gateway import LOCAL_CREDENTIALS, MANAGEMENT_REGION
    signed = AWSRequest(method=method, url=url, data=data)
    SigV4Auth(credentials or LOCAL_CREDENTIALS, "execute-api", MANAGEMENT_REGION).add_auth(signed)
    return dict(signed.headers)


def management_call(base: str, method: str, connection_id: str, data: bytes = b"", headers: dict | None = None,
                    credentials=None, timeout: float = 10) -> tuple[int, bytes]:
    """API Gateway's management API, `/@connections/{id}`, called signed; `headers` are added
    after signing. Returns (status, body)."""
    # Ids are base64 (they may hold '/' and '+'): quote them, as boto3 does.
    url = f"{base}/@connections/{urllib.parse.quote(connection_id, safe='')}"
    signed = management_headers(method, url, data, credentials)
    request = urllib.request.Request(url, data=data or None, method=method, headers={**signed, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
