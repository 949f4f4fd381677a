"""AWS failing under a `send`: throttling, 5xx, timeouts and lost connections injected into
DynamoDB and the management API (botocore `before-send` hooks, in process, over moto).

The rule: a `send` is either stored and delivered, or answered with a retryable error
(`unavailable`) — never stored-and-lost, never delivered-but-not-stored. "Stored and
answered unavailable" is allowed (the write landed, its answer did not): retrying with the
same client_id then delivers the stored message once. When only the posts to recipients
fail, the message is stored and they recover it with join + after.

Retries are botocore's standard mode (chalicelib/runtime.py: DynamoDB, max_attempts 4 = 5 tries;
chalicelib/notifier.py: management API, max_attempts 3 = 4 tries); the tests count them. Backoff
delays are recorded and skipped, so the file runs in seconds.
"""
import json
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.retries import standard
from chalice.config import Config
from chalice.local import LocalGateway
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.models import botocore_stubber

from chalicelib.models import CreateRoomRequest, RegisterRequest
from localserver.events import lambda_context, websocket_event
from support import in_process_app

API_ID, STAGE = "abc123", "test"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
# botocore's `retries={"max_attempts": N}` counts retries after the first try (botocore/config.py
# maps it to total_max_attempts = N + 1): runtime.py's 4 and notifier.py's 3 mean 5 and 4 tries.
DYNAMODB_ATTEMPTS, POST_ATTEMPTS = 5, 4
INJECTED = {"faults": 0, "sends": 0}  # totals for docs/reliability.md (printed at the end)


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


def _answered_here(request):
    """botocore calls every before-send handler and takes the first answer: mark the request
    so that moto's handler (patched in `world`) leaves it alone instead of also executing it."""
    request.answered_by_test = True


def _dynamodb_error(request, status, code, **extra):
    _answered_here(request)
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"injected {code}", **extra}
    return AWSResponse(request.url, status, {"x-amzn-RequestId": "injected",
                                             "Content-Type": "application/x-amz-json-1.0"},
                       _Raw(json.dumps(body).encode()))


def _gateway_error(request, status, code):
    _answered_here(request)
    return AWSResponse(request.url, status, {"x-amzn-ErrorType": code, "Content-Type": "application/json"},
                       _Raw(json.dumps({"message": f"injected {code}"}).encode()))


# Each fault: what the hooked call does instead of (or after) its real work.
def throttled(request, **_):
    return _dynamodb_error(request, 400, "ProvisionedThroughputExceededException")


def throttling(request, **_):
    return _dynamodb_error(request, 400, "ThrottlingException")


def server_error(request, **_):
    return _dynamodb_error(request, 500, "InternalServerError")


def read_timeout(request, **_):
    raise ReadTimeoutError(endpoint_url=request.url)


def no_connection(request, **_):
    raise EndpointConnectionError(endpoint_url=request.url)


def transaction_conflict(request, **_):
    """Another transaction held one of the items (e.g. the room's, in a busy room)."""
    items = json.loads(request.body)["TransactItems"]
    reasons = [{"Code": "None"}] * len(items)
    reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    return _dynamodb_error(request, 400, "TransactionCanceledException", CancellationReasons=reasons)


def applied_then_timeout(request, **kwargs):
    """The write lands in DynamoDB; its answer never comes back."""
    botocore_stubber(request=request, **kwargs)
    raise ReadTimeoutError(endpoint_url=request.url)


def post_throttled(request, **_):
    return _gateway_error(request, 429, "LimitExceededException")


def post_server_error(request, **_):
    return _gateway_error(request, 500, "InternalServerError")


def post_gone(request, **_):
    return _gateway_error(request, 410, "GoneException")


@dataclass
class Fault:
    action: object
    times: int  # how many calls in a row it hits; then the calls go through
    hits: int = 0

    def __call__(self, **kwargs):
        if self.hits >= self.times:
            return None
        self.hits += 1
        INJECTED["faults"] += 1
        return self.action(**kwargs)


@dataclass
class FakeApiGateway:
    """The management API: records every frame posted per connection; posts can be made to fail."""
    frames: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)  # connection id -> Fault
    attempts: dict = field(default_factory=dict)

    def __call__(self, request, **kwargs):
        connection_id = unquote(request.url.rsplit("/@connections/", 1)[1])
        self.attempts[connection_id] = self.attempts.get(connection_id, 0) + 1
        fault = self.faults.get(connection_id) or self.faults.get("*")
        if fault and fault.hits < fault.times:
            if fault.action == "delivered_then_timeout":
                fault.hits += 1
                INJECTED["faults"] += 1
                self.frames.setdefault(connection_id, []).append(json.loads(request.body))
                raise ReadTimeoutError(endpoint_url=request.url)
            return fault(request=request, **kwargs)
        self.frames.setdefault(connection_id, []).append(json.loads(request.body))
        _answered_here(request)
        return AWSResponse(request.url, 200, {}, _Raw(b""))


class World:
    """alice, bob and carol connected and joined to one room, all through app.py's handlers."""

    def __init__(self, runtime):
        import app as handlers  # app.py: the Lambda entry points (ws_connect, ws_message, ...)
        self.handlers = handlers
        app = handlers.app
        self.runtime = runtime
        self.chat = runtime.chat
        self.gateway = FakeApiGateway()
        self.post_client = runtime.notifier(DOMAIN, STAGE).client
        self.post_client.meta.events.register_first("before-send.apigatewaymanagementapi.PostToConnection",
                                                     self.gateway)
        self.db = self.chat.storage.client
        self.rest = LocalGateway(app, Config.create(app_name="chat", lambda_timeout=29, lambda_memory_size=512))
        self.tokens = {}
        for name in ("alice", "bob", "carol"):
            self.tokens[name] = self.chat.register(RegisterRequest(
                username=name, email=f"{name}@example.com", password="password1"), "192.0.2.1").token
        self.room = self.chat.create_room("alice", CreateRoomRequest(name="General")).id
        for name in ("alice", "bob", "carol"):
            assert self.event("$connect", f"c-{name}", token=self.tokens[name]) == {"statusCode": 200}
            self.frame(f"c-{name}", {"action": "join", "room": self.room})
        self.gateway.frames.clear()
        self.gateway.attempts.clear()

    def event(self, route, connection_id, body=None, token=None):
        event = websocket_event(route, connection_id, domain_name=DOMAIN, stage=STAGE, api_id=API_ID, body=body,
                                query={"token": token} if token else None)
        handler = {"$connect": self.handlers.ws_connect, "$disconnect": self.handlers.ws_disconnect}.get(
            route, self.handlers.ws_message)
        return handler(event, lambda_context())

    def frame(self, connection_id, frame: dict):
        return self.event(frame["action"], connection_id, body=json.dumps(frame))

    def inject(self, operation: str, fault: Fault) -> Fault:
        self.db.meta.events.register_first(f"before-send.dynamodb.{operation}", fault,
                                           unique_id=f"fault-{operation}")
        return fault

    def heal(self):
        for operation in ("GetItem", "TransactWriteItems", "Query", "UpdateItem", "BatchGetItem"):
            self.db.meta.events.unregister(f"before-send.dynamodb.{operation}", unique_id=f"fault-{operation}")
        self.gateway.faults.clear()

    def posted(self, connection_id, kind=None):
        return [frame for frame in self.gateway.frames.get(connection_id, []) if kind is None or frame["type"] == kind]

    def stored(self):
        return [message.dump() for message in self.chat.storage.messages_page(self.room, limit=100)[0]]


@pytest.fixture
def world(monkeypatch):
    delays = []
    original = standard.ExponentialBackoff.delay_amount

    def no_wait(self, context):
        delays.append(original(self, context))
        return 0
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", no_wait)
    stub = BotocoreStubber.__call__

    def unless_answered(self, event_name, request, **kwargs):
        return None if getattr(request, "answered_by_test", False) else stub(self, event_name, request, **kwargs)
    monkeypatch.setattr(BotocoreStubber, "__call__", unless_answered)
    with in_process_app() as runtime:
        world = World(runtime)
        world.delays = delays
        yield world


def _send(world, client_id, text="hello"):
    INJECTED["sends"] += 1
    world.gateway.frames.clear()
    world.gateway.attempts.clear()
    world.frame("c-alice", {"action": "send", "room": world.room, "text": text, "client_id": client_id})
    world.heal()


def _check_the_rule(world, client_id, text="hello"):
    """Stored and delivered, or answered `unavailable`; never stored-and-lost or delivered-not-stored.
    Returns what happened."""
    stored = [message for message in world.stored() if message["client_id"] == client_id]
    assert len(stored) <= 1, f"stored {len(stored)} times"
    errors = world.posted("c-alice", "error")
    delivered = {name: [frame["message"] for frame in world.posted(f"c-{name}", "message")]
                 for name in ("alice", "bob", "carol")}
    if not stored:
        assert not any(delivered.values()), f"delivered but not stored: {delivered}"
        assert [(error["code"], error["action"], error["client_id"]) for error in errors] == [
            ("unavailable", "send", client_id)], f"not stored and not answered unavailable: {errors}"
        return "refused"
    message = stored[0]
    assert message["text"] == text
    for frames in delivered.values():
        assert all(frame == message for frame in frames), "a delivered frame differs from the stored message"
    outcome = "stored"
    if errors:
        assert [error["code"] for error in errors] == ["unavailable"], errors
        # The client retries with the same client_id: the stored message, to the sender only.
        _send(world, client_id, text)
        assert [m for m in world.stored() if m["client_id"] == client_id] == [message]
        assert world.posted("c-alice", "message") == [{"type": "message", "message": message}]
        assert not world.posted("c-bob") and not world.posted("c-carol")
        delivered["alice"] = [message]
        outcome = "stored, answered unavailable, retry answered"
    missing = [name for name, frames in delivered.items() if not frames]
    for name in missing:  # they can catch up (on a new connection if API Gateway said theirs was gone)
        connection_id = f"c-{name}"
        if world.chat.storage.connection(connection_id) is None:
            connection_id = f"c-{name}-again"
            assert world.event("$connect", connection_id, token=world.tokens[name]) == {"statusCode": 200}
        world.gateway.frames.clear()
        world.frame(connection_id, {"action": "join", "room": world.room, "after": "0" * 26})
        joined = world.posted(connection_id, "joined")
        assert joined and message in joined[0]["messages"], f"{name} cannot recover the message"
    if not missing:
        return "stored and delivered" if outcome == "stored" else outcome
    return f"{outcome}; {missing} recover it with join+after"


DYNAMODB_FAULTS = [throttled, throttling, server_error, read_timeout, no_connection]


@pytest.mark.parametrize("operation", ["GetItem", "TransactWriteItems", "Query"])
@pytest.mark.parametrize("fault", DYNAMODB_FAULTS, ids=lambda fault: fault.__name__)
def test_a_transient_dynamodb_fault_is_retried_and_the_send_goes_through(world, operation, fault):
    injected = world.inject(operation, Fault(fault, times=DYNAMODB_ATTEMPTS - 1))
    _send(world, f"t-{operation}-{fault.__name__}")
    assert _check_the_rule(world, f"t-{operation}-{fault.__name__}") == "stored and delivered"
    assert injected.hits == DYNAMODB_ATTEMPTS - 1
    assert world.delays and max(world.delays) <= 20  # standard mode: exponential backoff, capped at 20 s


@pytest.mark.parametrize("operation", ["GetItem", "TransactWriteItems", "Query"])
@pytest.mark.parametrize("fault", DYNAMODB_FAULTS, ids=lambda fault: fault.__name__)
def test_a_lasting_dynamodb_fault_answers_unavailable(world, operation, fault):
    injected = world.inject(operation, Fault(fault, times=100))
    client_id = f"l-{operation}-{fault.__name__}"
    _send(world, client_id)
    assert injected.hits == DYNAMODB_ATTEMPTS, "standard retry mode: 5 attempts"
    outcome = _check_the_rule(world, client_id)
    # Before the write nothing is stored; after it (Query), the write stands, the retry answers its
    # sender and the others (whose frames never went out) catch up with join + after.
    assert outcome == ("stored, answered unavailable, retry answered; ['bob', 'carol'] recover it with join+after"
                       if operation == "Query" else "refused")


@pytest.mark.parametrize("times", [1, 100])
def test_a_write_that_landed_but_timed_out_is_stored_once(world, times):
    """ReadTimeout after DynamoDB applied the transaction: botocore retries it; the retry hits
    the client_id's condition and gets the stored message back, so nothing is stored twice."""
    world.inject("TransactWriteItems", Fault(applied_then_timeout, times=times))
    _send(world, f"landed-{times}")
    outcome = _check_the_rule(world, f"landed-{times}")
    # botocore's retry of our own landed write finds the client_id item with this very message
    # id: that is not a client's retry, and the message goes to everyone.
    assert outcome == ("stored and delivered" if times == 1 else
                       "stored, answered unavailable, retry answered; ['bob', 'carol'] recover it with join+after")


def test_a_transaction_conflict_is_retried_by_the_service(world):
    """TransactionCanceledException(TransactionConflict): botocore does not retry it (not a
    throttling code); nothing was written, and it is another writer on the conversation's
    head, so the service tries again as after any lost race."""
    world.inject("TransactWriteItems", Fault(transaction_conflict, times=1))
    _send(world, "conflict")
    assert _check_the_rule(world, "conflict") == "stored and delivered"


POST_FAULTS = [post_throttled, post_server_error, read_timeout, no_connection]


@pytest.mark.parametrize("fault", POST_FAULTS, ids=lambda fault: fault.__name__)
@pytest.mark.parametrize("who", ["c-alice", "c-bob", "*"])
def test_failed_posts_after_the_store_lose_nothing(world, fault, who):
    world.gateway.faults[who] = Fault(fault, times=100)
    _send(world, f"p-{who}-{fault.__name__}")
    outcome = _check_the_rule(world, f"p-{who}-{fault.__name__}")
    assert "recover it with join+after" in outcome
    failing = ["c-alice", "c-bob", "c-carol"] if who == "*" else [who]
    for connection_id in failing:
        assert world.gateway.attempts[connection_id] >= POST_ATTEMPTS


@pytest.mark.parametrize("fault", POST_FAULTS, ids=lambda fault: fault.__name__)
def test_a_transient_post_fault_is_retried(world, fault):
    world.gateway.faults["c-bob"] = Fault(fault, times=POST_ATTEMPTS - 1)
    _send(world, f"tp-{fault.__name__}")
    assert _check_the_rule(world, f"tp-{fault.__name__}") == "stored and delivered"
    assert world.gateway.attempts["c-bob"] == POST_ATTEMPTS


def test_a_post_that_landed_but_timed_out_is_delivered_again_with_the_same_id(world):
    """At-least-once: botocore retries a timed-out post that had arrived, so the recipient gets
    the frame twice, with the same message id; clients merge by id (docs/reliability.md)."""
    world.gateway.faults["c-bob"] = Fault("delivered_then_timeout", times=1)
    _send(world, "twice")
    frames = world.posted("c-bob", "message")
    assert len(frames) == 2 and frames[0] == frames[1]
    assert _check_the_rule(world, "twice") == "stored and delivered"


def test_a_gone_recipient_is_removed_and_the_others_get_the_message(world):
    world.gateway.faults["c-bob"] = Fault(post_gone, times=100)
    _send(world, "gone")
    assert world.gateway.attempts["c-bob"] == 1  # 410 is not retried
    assert world.chat.storage.connection("c-bob") is None
    assert _check_the_rule(world, "gone") == "stored; ['bob'] recover it with join+after"


@pytest.mark.parametrize("operation", ["GetItem", "TransactWriteItems"])
def test_a_dm_under_lasting_faults_is_refused_as_retryable(world, operation):
    world.inject(operation, Fault(throttled, times=100))
    world.gateway.frames.clear()
    INJECTED["sends"] += 1
    world.frame("c-alice", {"action": "dm", "to": "bob", "text": "psst", "client_id": "dm-1"})
    world.heal()
    assert [(e["code"], e["client_id"]) for e in world.posted("c-alice", "error")] == [("unavailable", "dm-1")]
    assert world.posted("c-bob", "message") == []
    assert world.chat.storage.messages_page("dm:alice:bob")[0] == []


def _rest(world, method, path, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = world.rest.handle_request(method=method, path=path, headers=headers, body=b"")
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("path", ["/me", "/chatrooms", "/users/online", "/me/rooms"])
def test_rest_answers_503_unavailable_when_dynamodb_stays_throttled(world, path):
    world.inject("GetItem", Fault(throttled, times=100))
    world.inject("Query", Fault(throttled, times=100))
    status, body = _rest(world, "GET", path, world.tokens["alice"])
    world.heal()
    assert status == 503 and body["error"]["code"] == "unavailable" and "Traceback" not in json.dumps(body)


def test_a_validation_error_from_dynamodb_is_not_called_retryable(world):
    """Real DynamoDB refuses key values over 2048 bytes with ValidationException (moto does not
    check). A room id in a URL can be that long; the answer must not be `503 unavailable`, which
    tells clients to retry what can never succeed (chalicelib/runtime.py is_transient)."""
    def too_long_key(request, **kwargs):
        key = json.loads(request.body).get("Key", {})
        if any(len(json.dumps(value)) > 2048 for value in key.values()):
            return _dynamodb_error(request, 400, "ValidationException")
        return None
    world.db.meta.events.register_first("before-send.dynamodb.GetItem", too_long_key, unique_id="long-key")
    status, body = _rest(world, "GET", "/chatrooms/" + "x" * 3000, world.tokens["alice"])
    assert (status, body["error"]["code"]) in ((404, "not_found"), (400, "invalid_request")), (status, body)


def test_the_totals():
    """Prints what this file injected (for docs/reliability.md); runs last in the file."""
    print(f"\naws faults: {INJECTED['faults']} faults injected over {INJECTED['sends']} sends, 0 lost")
