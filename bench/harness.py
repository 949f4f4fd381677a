"""What the benchmarks share: the app's runtime over an in-process AWS (moto), a recorder
of every AWS call it makes (botocore event hooks on its session), DynamoDB capacity from
item sizes, and the events API Gateway and SQS send.

Nothing here talks to AWS: every client is created inside `mock_aws`, and the
management API URLs are the `https://<id>.execute-api.<region>.amazonaws.com/<stage>`
form that moto intercepts.
"""
import json
import math
import secrets
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from chalicelib.records import Subscriber
from chalicelib.runtime import Runtime
from chalicelib.storage import Storage, _load
from localserver.events import websocket_event

ROOT = Path(__file__).resolve().parent.parent
API_ID = "benchapi1"
STAGE = "ws"
REGION = "us-east-1"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
MANAGEMENT_URL = f"https://{DOMAIN}/{STAGE}"
MOCKED_SERVICES = ("dynamodb", "sqs")
# moto takes any credentials; explicit ones keep boto3 from looking for this machine's.
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "aws_session_token": "bench"}


def aws_session():
    """A boto3 session that reaches only the stand-ins: fake credentials, the bench's region,
    and no endpoint from this machine's environment or AWS config."""
    import boto3
    import botocore.session
    core = botocore.session.get_session()
    core.set_config_variable("ignore_configured_endpoint_urls", True)
    return boto3.session.Session(botocore_session=core, region_name=REGION, **CREDENTIALS)


def bench_settings(**changes):
    """The app's default settings on bench-* tables, but bcrypt_rounds=4: no benchmark here
    measures the cost of a login's bcrypt check (the calls benchmark counts a login's AWS
    calls, which do not depend on it). `changes` replace fields."""
    from chalicelib.config import Settings, Tables
    return Settings(**{"tables": Tables.prefixed("bench"), "bcrypt_rounds": 4,
                       "jwt_secret": secrets.token_urlsafe(48), **changes})


# -- DynamoDB item sizes and capacity ------------------------------------------------
def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def attribute_size(value: dict) -> int:
    """Bytes DynamoDB counts for one wire-format value (AWS: 'Item sizes and formats')."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode("utf-8")) for item in inner)
    if kind == "NS":
        return sum(_number_size(item) for item in inner)
    if kind == "BS":
        return sum(len(item) for item in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(item) for item in inner)
    if kind == "M":
        return 3 + sum(1 + len(key.encode("utf-8")) + attribute_size(item) for key, item in inner.items())
    raise ValueError(kind)


def item_size(item: dict | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def read_units(total_bytes: int) -> float:
    """Eventually consistent reads (the app never asks for strong ones): half a unit per
    4 KB of everything read by the request, rounded up; at least half a unit."""
    return 0.5 * max(1, math.ceil(total_bytes / 4096))


def write_units(size: int, transactional: bool = False) -> int:
    return max(1, math.ceil(size / 1024)) * (2 if transactional else 1)


class Schemas:
    """Keys and indexes of the app's tables, read from infra/resources.json."""

    def __init__(self, tables):
        from infra import stack
        from localserver.dynamo import table_names
        names = table_names(tables)
        self.tables = {}
        for logical_id, definition in stack.table_definitions().items():
            name = names[logical_id]
            keys = [key["AttributeName"] for key in definition["KeySchema"]]
            indexes = []
            for index in definition.get("GlobalSecondaryIndexes", []):
                projection = index["Projection"]
                indexes.append({"name": index["IndexName"],
                                "keys": [key["AttributeName"] for key in index["KeySchema"]],
                                "type": projection["ProjectionType"],
                                "attributes": projection.get("NonKeyAttributes", [])})
            self.tables[name] = {"logical_id": logical_id, "keys": keys, "indexes": indexes}

    def key_of(self, table: str, item: dict) -> dict:
        return {name: item[name] for name in self.tables[table]["keys"]}

    def index_entry(self, table: str, index: dict, item: dict | None) -> dict | None:
        if not item or any(name not in item for name in index["keys"]):
            return None
        if index["type"] == "ALL":
            return dict(item)
        names = set(self.tables[table]["keys"]) | set(index["keys"])
        if index["type"] == "INCLUDE":
            names |= set(index["attributes"])
        return {name: value for name, value in item.items() if name in names}

    def index_write_units(self, table: str, old: dict | None, new: dict | None) -> int:
        """Writes to global secondary indexes: a put or delete per index the item enters or
        leaves, a delete and a put when its index key changes, one write when only a
        projected attribute changes (AWS: 'Provisioned throughput considerations for GSIs')."""
        units = 0
        for index in self.tables[table]["indexes"]:
            before, after = self.index_entry(table, index, old), self.index_entry(table, index, new)
            if before == after:
                continue
            if before is None or after is None:
                units += write_units(item_size(before or after))
            elif any(before.get(name) != after.get(name) for name in index["keys"]):
                units += write_units(item_size(before)) + write_units(item_size(after))
            else:
                units += write_units(item_size(after))
        return units


# -- the recorder ----------------------------------------------------------------------
class Recorder:
    """Counts every AWS API call made by the clients of `session` (made after the recorder),
    by service and operation, with DynamoDB items read and (optionally) request units of
    `tables`.

    Capacity needs the items before and after each write; it reads them with a client
    of its own session, which the recorder does not see."""

    def __init__(self, session, tables, capacity: bool = True):
        self.session = session
        self.capacity = capacity
        self.lock = threading.Lock()
        self.active = False
        self.schemas = Schemas(tables) if capacity else None
        self._observer = None
        self._pending = threading.local()
        self.session.events.register("before-parameter-build", self._before_call)
        self.session.events.register("after-call", self._after_call)
        self.session.events.register("after-call-error", self._after_call_error)
        # The time moto spends answering (between sending a request and parsing its answer)
        # stands for the network and the service; benchmarks that time the app take it out.
        for service in MOCKED_SERVICES:
            self.session.events.register_first(f"before-send.{service}", self._sent)
            self.session.events.register(f"before-parse.{service}", self._answered)
        self.clear()

    def _sent(self, **kwargs):
        self._pending.sent = (time.perf_counter(), time.thread_time())

    def _answered(self, operation_model, **kwargs):
        sent = getattr(self._pending, "sent", None)
        if sent is None or not self.active:
            return
        elapsed, cpu = time.perf_counter() - sent[0], time.thread_time() - sent[1]
        self._pending.sent = None
        with self.lock:
            self.mock_seconds[operation_model.service_model.service_name] += elapsed
            self.mock_cpu_seconds += cpu

    @property
    def observer(self):
        if self._observer is None:
            self._observer = aws_session().client("dynamodb")
        return self._observer

    def clear(self) -> None:
        with self.lock:
            self.calls = Counter()
            self.items_read = 0
            self.bytes_read = 0
            self.rru = 0.0
            self.wru = 0.0
            self.sqs_messages = 0
            self.posted = Counter()
            self.mock_seconds = Counter()
            self.posted_bytes = 0
            self.post_units = 0
            self.overhead_seconds = 0.0
            self.overhead_cpu_seconds = 0.0
            self.mock_cpu_seconds = 0.0

    def measure(self):
        recorder = self

        class _Window:
            def __enter__(self):
                recorder.clear()
                recorder.active = True
                return recorder

            def __exit__(self, *exc):
                recorder.active = False
        return _Window()

    # DynamoDB writes: the items they touch, as (table, key, transactional).
    def _write_targets(self, operation: str, params: dict) -> list[tuple[str, dict, bool]]:
        schemas = self.schemas
        if operation == "PutItem":
            return [(params["TableName"], schemas.key_of(params["TableName"], params["Item"]), False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"], False)]
        if operation == "BatchWriteItem":
            targets = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        targets.append((table, schemas.key_of(table, request["PutRequest"]["Item"]), False))
                    else:
                        targets.append((table, request["DeleteRequest"]["Key"], False))
            return targets
        if operation == "TransactWriteItems":
            targets = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                key = body["Key"] if "Key" in body else schemas.key_of(body["TableName"], body["Item"])
                targets.append((body["TableName"], key, True))
            return targets
        return []

    def _unfiltered(self, operation: str, params: dict) -> list[dict]:
        """The items a filtered Query or Scan read: the same page without its filter."""
        import re
        request = {key: value for key, value in params.items()
                   if key not in ("FilterExpression", "ExpressionAttributeValues", "ExpressionAttributeNames",
                                  "Select", "ReturnConsumedCapacity")}
        expressions = " ".join(params.get(name, "") for name in ("KeyConditionExpression", "ProjectionExpression"))
        used = set(re.findall(r"[:#][A-Za-z0-9_]+", expressions))
        for name in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
            kept = {key: value for key, value in params.get(name, {}).items() if key in used}
            if kept:
                request[name] = kept
        call = self.observer.query if operation == "Query" else self.observer.scan
        return call(**request).get("Items", [])

    def _get(self, table: str, key: dict) -> dict | None:
        return self.observer.get_item(TableName=table, Key=key).get("Item")

    def _timed(hook):
        """Adds the hook's own time to overhead_seconds, which benchmarks that time the app
        take out (capacity needs extra reads of moto's tables)."""
        def timed(self, *args, **kwargs):
            if not self.active:
                return hook(self, *args, **kwargs)
            begin, cpu = time.perf_counter(), time.thread_time()
            try:
                return hook(self, *args, **kwargs)
            finally:
                elapsed, cpu = time.perf_counter() - begin, time.thread_time() - cpu
                with self.lock:
                    self.overhead_seconds += elapsed
                    self.overhead_cpu_seconds += cpu
        return timed

    @_timed
    def _before_call(self, model, params, **kwargs):
        if not self.active:
            return
        service = model.service_model.service_name
        with self.lock:
            self.calls[(service, model.name)] += 1
            if service == "sqs" and model.name == "SendMessageBatch":
                self.sqs_messages += len(params.get("Entries", []))
            elif service == "sqs" and model.name == "SendMessage":
                self.sqs_messages += 1
            elif model.name == "PostToConnection":
                self.posted[params.get("ConnectionId")] += 1
                size = len(params.get("Data") or b"")
                self.posted_bytes += size
                # API Gateway meters messages in 32 KB increments.
                self.post_units += max(1, math.ceil(size / 32768))
        self._pending.params = params
        if service == "dynamodb" and self.capacity:
            targets = self._write_targets(model.name, params)
            self._pending.writes = [(table, key, transactional, self._get(table, key))
                                    for table, key, transactional in targets]

    def _after_call_error(self, **kwargs):
        # The call never got an answer (botocore gave up): nothing was read or written.
        self._pending.writes = []

    @_timed
    def _after_call(self, model, parsed, **kwargs):
        http = kwargs.get("http_response")
        failed = http is not None and http.status_code >= 300
        self._after(model, getattr(self._pending, "params", None) or {}, parsed, failed)

    def _after(self, model, params, parsed, failed: bool):
        if not self.active or model.service_model.service_name != "dynamodb":
            return
        operation = model.name
        items, rru = [], 0.0
        if not failed and parsed is not None:
            if operation == "GetItem":
                items = [parsed["Item"]] if "Item" in parsed else []
            elif operation in ("Query", "Scan"):
                items = parsed.get("Items", [])
                if parsed.get("ScannedCount", len(items)) != len(items):
                    # A FilterExpression drops items after they are read (and charged).
                    items = self._unfiltered(operation, params)
            elif operation == "BatchGetItem":
                items = [item for found in parsed.get("Responses", {}).values() for item in found]
        size = sum(item_size(item) for item in items)
        if self.capacity and operation in ("GetItem", "Query", "Scan"):
            if operation == "GetItem" and items and "ProjectionExpression" in params:
                # Projections do not lower the charge: the whole item is read.
                size = item_size(self._get(params["TableName"], params["Key"]))
            rru = read_units(size)
        elif self.capacity and operation == "BatchGetItem":
            # Each key is read (and charged) like a GetItem, found or not.
            requested = sum(len(request["Keys"]) for request in params.get("RequestItems", {}).values())
            rru = sum(read_units(item_size(item)) for item in items) + 0.5 * max(0, requested - len(items))
        wru = 0.0
        if self.capacity:
            for table, key, transactional, old in getattr(self._pending, "writes", []):
                if failed:
                    # A refused conditional write still costs the write of the item.
                    wru += write_units(item_size(old), transactional)
                    continue
                new = self._get(table, key)
                wru += write_units(max(item_size(old), item_size(new)), transactional)
                wru += self.schemas.index_write_units(table, old, new)
            self._pending.writes = []
        with self.lock:
            self.items_read += len(items)
            self.bytes_read += size
            self.rru += rru
            self.wru += wru

    def snapshot(self) -> dict:
        with self.lock:
            dynamodb = {op: n for (service, op), n in sorted(self.calls.items()) if service == "dynamodb"}
            other = defaultdict(dict)
            for (service, op), n in sorted(self.calls.items()):
                if service != "dynamodb":
                    other[service][op] = n
            result = {
                "dynamodb": dynamodb,
                "dynamodb_calls": sum(dynamodb.values()),
                "scans": dynamodb.get("Scan", 0),
                "items_read": self.items_read,
                "bytes_read": self.bytes_read,
                "post_to_connection": self.calls[("apigatewaymanagementapi", "PostToConnection")],
                "posted_bytes": self.posted_bytes,
                "post_message_units": self.post_units,
                "sqs_messages": self.sqs_messages,
                "other_calls": dict(other),
                "mock_seconds": {service: round(seconds, 4) for service, seconds in self.mock_seconds.items()},
                "recorder_seconds": round(self.overhead_seconds, 4),
                # CPU time (of the calling threads) spent in moto and in the recorder's hooks
                "mock_cpu_seconds": round(self.mock_cpu_seconds, 4),
                "recorder_cpu_seconds": round(self.overhead_cpu_seconds, 4),
            }
            if self.capacity:
                result["read_request_units"] = self.rru
                result["write_request_units"] = self.wru
            return result


def add_post_latency(session, seconds: float) -> None:
    """Every PostToConnection of `session`'s clients (made after this) takes `seconds` and is
    answered 200 without reaching moto, as if API Gateway took that long (registered first,
    so moto's own hook never runs: what is left is botocore's work, which the Lambda does too)."""
    from botocore.awsrequest import AWSResponse

    class _Body:
        def stream(self, **kwargs):
            return iter(())

        def read(self, *args):
            return b""

    def answer(request, **kwargs):
        if seconds:
            time.sleep(seconds)
        return AWSResponse(request.url, 200, {}, _Body())
    events = session.events
    events.register_first("before-send.apigatewaymanagementapi", answer)
    # botocore runs every before-send hook, answer or not: keep moto's to the services
    # it stands in for, so that its request handling does not count as the app's work.
    from moto.core.models import botocore_stubber
    events.unregister("before-send", botocore_stubber)
    for service in MOCKED_SERVICES:
        events.register(f"before-send.{service}", botocore_stubber)


# -- the app in this process ------------------------------------------------------------
class ScanStorage(Storage):
    """The design this app avoids: find a room's connections by Scanning the whole
    connections table on every message (and filtering in the function, which is what a
    FilterExpression costs too: DynamoDB charges for every item it reads)."""

    def connections_in_room(self, room_id: str) -> list[Subscriber]:
        found, start = [], None
        while True:
            query = {"TableName": self.connections}
            if start:
                query["ExclusiveStartKey"] = start
            response = self.client.scan(**query)
            for raw in response.get("Items", []):
                item = _load(raw)
                if item.get("room_id") == room_id:
                    found.append(Subscriber(connection_id=item["connection_id"], username=item["username"]))
            start = response.get("LastEvaluatedKey")
            if not start:
                return found


class ScanDesign(Runtime):
    """The app with ScanStorage: everything else equal (`--design scan`)."""

    @cached_property
    def storage(self) -> Storage:
        return ScanStorage(self.dynamodb, self.settings.tables)


DESIGNS = {"query": Runtime, "scan": ScanDesign}


def install(built: Runtime) -> Runtime:
    """Makes `built` the runtime of app.py's handlers in this process. Chalice's WebSocket
    handlers also need the region, which Lambda gives them in its environment: here they
    take it from the runtime's session."""
    import app
    from chalicelib import runtime
    runtime.use(built)
    app.app.websocket_api.session = built.session
    return built


def app_over_moto(design: str = "query", capacity: bool = True, post_latency: float | None = None,
                  **changes) -> tuple[Runtime, "Recorder", "World"]:
    """app.py's handlers as one warm container runs them, over moto (call it inside
    `mock_aws`): the runtime of the bench settings with `changes`, installed; the recorder
    of every AWS call it makes (with request units if `capacity`); the world in its tables.
    `post_latency`: see add_post_latency."""
    session, settings = aws_session(), bench_settings(**changes)
    recorder = Recorder(session, settings.tables, capacity=capacity)
    if post_latency is not None:
        add_post_latency(session, post_latency)
    built = install(DESIGNS[design](settings, session=session))
    return built, recorder, World(built)


# -- the world: tables, users, rooms, connections -----------------------------------
class World:
    """The tables of `runtime` made, and quick ways to fill them with the app's own item
    shapes. Bulk writes go through a client of their own, which no recorder sees."""

    def __init__(self, runtime: Runtime):
        from localserver.dynamo import create_tables
        self.tables = runtime.settings.tables
        self.client = aws_session().client("dynamodb", endpoint_url=runtime.dynamodb_endpoint)
        create_tables(self.client, self.tables)
        self.chat = runtime.chat
        self.storage = runtime.storage
        self._password_hash = None
        self._serial = 0

    def _next(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:06d}"

    def capture(self):
        """A Storage whose puts are collected, not sent: the app's own item shapes for bulk
        loading with BatchWriteItem. Anything but a put fails loudly."""
        writes = []

        class Capture:
            def put_item(self, TableName, Item, **kwargs):
                writes.append((TableName, Item))

            def transact_write_items(self, TransactItems):
                for entry in TransactItems:
                    if set(entry) != {"Put"}:
                        raise NotImplementedError(f"cannot bulk-load {set(entry)}")
                    writes.append((entry["Put"]["TableName"], entry["Put"]["Item"]))
        return Storage(Capture(), self.tables), writes

    def flush(self, writes: list) -> None:
        by_table = defaultdict(list)
        for table, item in writes:
            by_table[table].append({"PutRequest": {"Item": item}})
        for table, requests in by_table.items():
            for start in range(0, len(requests), 25):
                pending = {table: requests[start:start + 25]}
                while pending:
                    pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    def users(self, count: int, prefix: str = "user") -> list[str]:
        from chalicelib.chat import now_iso
        from chalicelib.records import StoredUser
        if self._password_hash is None:
            self._password_hash = self.chat.passwords.hash("correct horse battery")
        storage, writes = self.capture()
        names = []
        for _ in range(count):
            name = self._next(prefix)
            storage.create_user(StoredUser(username=name, email=f"{name}@example.com",
                                           password_hash=self._password_hash, created_at=now_iso()))
            names.append(name)
        self.flush(writes)
        return names

    def room(self, creator: str, name: str | None = None) -> str:
        from chalicelib.models import CreateRoomRequest
        room = self.chat.create_room(creator, CreateRoomRequest(name=name or self._next("room "),
                                                                description="benchmark room"))
        return room.id

    def rooms(self, creators: list[str]) -> list[str]:
        """Many rooms, stored by the app's Storage.create_room and written 25 at a time. Not
        through ChatService.create_room: its rate-limit counters would add items to the
        connections table, which the Scan design reads."""
        from chalicelib.chat import now_iso
        from chalicelib.shapes import Room
        storage, writes = self.capture()
        rooms = [Room(id=secrets.token_urlsafe(9), name=self._next("room "), description="filler", created_by=creator,
                      created_at=now_iso(), member_count=0, last_message_at=None) for creator in creators]
        for room in rooms:
            storage.create_room(room)
        self.flush(writes)
        return [room.id for room in rooms]

    @staticmethod
    def new_connection_id() -> str:
        return secrets.token_urlsafe(8)[:11] + "="

    def connections(self, usernames: list[str], rooms: list[str] = (), members: bool = False) -> list[str]:
        """One connection per username, joined to every room in `rooms`.

        The first is made by the app's own Storage calls (put_connection, subscribe); the
        others are copies of the items those calls left in the connections table, with the
        connection id and username swapped, written 25 at a time. members=True also makes
        each user a durable member of the rooms (the app's add_member)."""
        from chalicelib.chat import now_iso
        moment = now_iso()
        first_id, first_user = self.new_connection_id(), usernames[0]
        template = self._template(first_id, first_user, rooms)
        ids, writes = [first_id], []
        for username in usernames[1:]:
            connection_id = self.new_connection_id()
            writes += self._clone(template, {first_id: connection_id, first_user: username,
                                             first_user.lower(): username.lower()})
            ids.append(connection_id)
        self.flush(writes)
        if members:
            for room_id in rooms:
                for username in dict.fromkeys(usernames):
                    self.storage.add_member(room_id, username, joined_at=moment)
        return ids

    def spread(self, groups: list[tuple[list[str], str]]) -> None:
        """Connections for many rooms at once: each (usernames, room id) group joined to its
        room, all copied from one connection the app made (room ids swapped too)."""
        (first_users, first_room), total = groups[0], []
        first_id, first_user = self.new_connection_id(), first_users[0]
        template = self._template(first_id, first_user, [first_room])
        for usernames, room_id in groups:
            for username in usernames:
                if username == first_user:
                    continue
                total += self._clone(template, {first_id: self.new_connection_id(), first_user: username,
                                                first_user.lower(): username.lower(), first_room: room_id})
        self.flush(total)

    def _template(self, connection_id: str, username: str, rooms) -> list[tuple[str, dict]]:
        from chalicelib.chat import now_iso
        moment = now_iso()
        self.storage.put_connection(connection_id, username, moment)
        for room_id in rooms:
            self.storage.subscribe(connection_id, room_id, username, moment)
        table = self.storage.connections
        items = self.client.query(TableName=table, KeyConditionExpression="connection_id = :id",
                                  ExpressionAttributeValues={":id": {"S": connection_id}})["Items"]
        return [(table, item) for item in items]

    @staticmethod
    def _clone(template, swap: dict) -> list[tuple[str, dict]]:
        """The template's items with every string (or string-set member) in `swap` replaced,
        also after a '#' (as in the subscription's sort key 'room#<id>')."""
        def replace(text):
            if text in swap:
                return swap[text]
            head, sep, tail = text.rpartition("#")
            return head + sep + swap[tail] if sep and tail in swap else text

        def value(attribute):
            if "S" in attribute:
                return {"S": replace(attribute["S"])}
            if "SS" in attribute:
                return {"SS": [replace(item) for item in attribute["SS"]]}
            return attribute
        return [(table, {name: value(attribute) for name, attribute in item.items()}) for table, item in template]

    def messages(self, room_id: str, sender: str, count: int) -> list[str]:
        ids = []
        for index in range(count):
            message = self.chat._new_message(room_id, sender, f"history message {index} " + "x" * 60, None)
            stored, _ = self.storage.put_message(message)
            ids.append(stored.id)
        return ids

    def token(self, username: str) -> str:
        return self.chat.tokens.issue(username)


def ws_event(route_key: str, connection_id: str, frame: dict | None = None, query: dict | None = None) -> dict:
    """An event of the bench's WebSocket API (`frame` sent as JSON), as API Gateway sends it."""
    return websocket_event(route_key, connection_id, domain_name=DOMAIN, stage=STAGE, api_id=API_ID,
                           body=None if frame is None else json.dumps(frame), query=query,
                           headers={"Host": DOMAIN}, user_agent="bench")


def sqs_event(bodies: list[str], queue_arn: str) -> dict:
    """The event Lambda's SQS poller hands to an on_sqs_message handler."""
    now = str(int(time.time() * 1000))
    return {"Records": [{
        "messageId": secrets.token_hex(16), "receiptHandle": secrets.token_hex(32), "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": now, "SenderId": "bench",
                       "ApproximateFirstReceiveTimestamp": now},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION} for body in bodies]}


def to_plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def record_spans(owner, name: str) -> list[tuple[float, float]]:
    """Wraps owner.name (for the rest of this benchmark process) to record each call's
    (wall seconds, CPU seconds) in the list it returns."""
    spans = []
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        begin, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spans.append((time.perf_counter() - begin, time.process_time() - cpu))
    setattr(owner, name, timed)
    return spans


def target(name: str, value, limit, ok: bool, note: str = "") -> dict:
    entry = {"name": name, "value": value, "limit": limit, "ok": bool(ok)}
    if note:
        entry["note"] = note
    return entry


def emit(result: dict) -> None:
    """One JSON object on one line of stdout: what the runner collects."""
    print(json.dumps(to_plain(result), sort_keys=False), flush=True)
