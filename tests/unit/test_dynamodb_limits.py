"""What real DynamoDB refuses and moto lets through: every request the app can make from the
largest inputs the models admit stays within DynamoDB's limits, by construction.

The requests go to StrictDynamo, a stand-in client that stores nothing and refuses what
AWS refuses (docs: "Service, account, and table quotas in Amazon DynamoDB"): key values
empty or past 2,048 bytes (partition) / 1,024 bytes (sort), items past 400 KB,
transactions past 100 items or 4 MB, batches past 25 writes or 100 reads, empty sets,
and a key condition `BETWEEN low AND high` with low > high.
"""
import json
import re
import unicodedata
from pathlib import Path

import pytest

from chalicelib.auth import Passwords, Tokens
from chalicelib.chat import MAX_ROOM_ID_BYTES, ChatService
from chalicelib.config import Settings, Tables
from chalicelib.conversations import dm_id, dm_participants, is_dm
from chalicelib.errors import ChatError
from chalicelib.models import (MAX_DESCRIPTION, MAX_LOGIN_NAME, MAX_ROOM_NAME, MAX_TEXT, CreateRoomRequest,
                               HistoryQuery, LoginRequest, RegisterRequest, parse, parse_frame)
from chalicelib.names import is_default_ignorable, room_name_key
from chalicelib.records import FrameCharge
from chalicelib.shapes import Message, Room
from chalicelib.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
ITEM_BYTES = 400 * 1024
TRANSACTION_ITEMS = 100
TRANSACTION_BYTES = 4 * 1024 * 1024
# The longest text form of an IP address API Gateway reports as sourceIp (IPv6 with an IPv4 tail).
LONGEST_SOURCE_IP = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
# Four UTF-8 bytes, printable, visible, and its own NFC, lower case and case fold.
WIDE = "\U0001d49c"  # MATHEMATICAL SCRIPT CAPITAL A
# Four UTF-8 bytes that lower-case to four bytes (DESERET CAPITAL LONG I).
WIDE_UPPER = "\U00010400"
USERNAME = "u" * 32
TABLES = Tables()
CODE_POINTS = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]


def _key_schemas() -> dict[str, dict[str | None, list[str]]]:
    """Per table name: the [partition, sort?] attribute names of the table (None) and of each index."""
    resources = json.loads((ROOT / "infra" / "resources.json").read_text())["Resources"]
    logical = {TABLES.users: "UsersTable", TABLES.rooms: "RoomsTable", TABLES.connections: "ConnectionsTable",
               TABLES.messages: "MessagesTable"}
    schemas = {}
    for table, name in logical.items():
        properties = resources[name]["Properties"]
        keys = {None: properties["KeySchema"]}
        keys.update({index["IndexName"]: index["KeySchema"] for index in properties.get("GlobalSecondaryIndexes", [])})
        schemas[table] = {index: [part["AttributeName"] for part in key] for index, key in keys.items()}
    return schemas


KEY_SCHEMAS = _key_schemas()


class Refused(Exception):
    """What AWS would answer with a ValidationException."""


def _size(value) -> int:
    """An upper bound of an item's or value's DynamoDB size: its JSON text in UTF-8 (names,
    values and more besides)."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def _string(value: dict) -> bytes | None:
    return value["S"].encode("utf-8") if "S" in value else None


class StrictDynamo:
    """A DynamoDB client that stores nothing (reads find `items` only) and refuses what AWS refuses."""

    def __init__(self, items: dict | None = None):
        # (table, partition value, sort value) -> a stored item, for the reads that need one.
        self.items = items or {}
        self.requests = []

    # -- the checks ------------------------------------------------------------------
    def _key_value(self, name: str, value: dict, sort: bool) -> None:
        data = _string(value)
        if data is None:
            data = value.get("B", b"") if "B" in value else value.get("N", "x").encode()
        limit = SORT_KEY_BYTES if sort else PARTITION_KEY_BYTES
        if not data:
            raise Refused(f"key attribute {name} is empty")
        if len(data) > limit:
            raise Refused(f"key attribute {name} is {len(data)} bytes, over {limit}")

    def _keys_in(self, table: str, item: dict, indexes: bool = True) -> None:
        """The table's key attributes, and those of each index the item is written to (an
        index holds only the items that carry its partition key)."""
        for index, schema in KEY_SCHEMAS[table].items():
            if index is not None and not (indexes and schema[0] in item):
                continue
            for position, name in enumerate(schema):
                if name in item:
                    self._key_value(name, item[name], sort=position == 1)

    def _values(self, values: dict) -> None:
        for value in values.values():
            for kind in ("SS", "NS", "BS"):
                if kind in value and not value[kind]:
                    raise Refused("an empty set")

    def _item(self, table: str, item: dict) -> None:
        self._keys_in(table, item)
        self._values(item)
        if _size(item) > ITEM_BYTES:
            raise Refused(f"item of {_size(item)} bytes")

    def _key_condition(self, params: dict) -> None:
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        key = KEY_SCHEMAS[params["TableName"]][params.get("IndexName")]
        expression = params["KeyConditionExpression"]
        for attribute, placeholders in self._comparisons(expression):
            attribute = names.get(attribute, attribute)
            for placeholder in placeholders:
                self._key_value(attribute, values[placeholder], sort=key.index(attribute) == 1)
            if len(placeholders) == 2:
                low, high = (_string(values[placeholder]) for placeholder in placeholders)
                if low > high:
                    raise Refused("BETWEEN bounds are reversed")

    @staticmethod
    def _comparisons(expression: str):
        for attribute, low, high in re.findall(r"([#\w]+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)", expression):
            yield attribute, [low, high]
        for attribute, placeholder in re.findall(r"([#\w]+)\s*(?:=|<=|>=|<|>)\s*(:\w+)", expression):
            yield attribute, [placeholder]
        for attribute, placeholder in re.findall(r"begins_with\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)", expression):
            yield attribute, [placeholder]

    def _write(self, operation: dict) -> None:
        (kind, params), = operation.items()
        if kind == "Put":
            self._item(params["TableName"], params["Item"])
        else:
            self._keys_in(params["TableName"], params["Key"], indexes=False)
        self._values(params.get("ExpressionAttributeValues", {}))

    # -- the client --------------------------------------------------------------------
    def _record(self, operation: str, params: dict) -> None:
        self.requests.append((operation, params))

    def get_item(self, **params):
        self._record("GetItem", params)
        self._keys_in(params["TableName"], params["Key"], indexes=False)
        key = tuple(_string(value) for value in params["Key"].values())
        item = self.items.get((params["TableName"], *key))
        return {"Item": item} if item else {}

    def query(self, **params):
        self._record("Query", params)
        self._key_condition(params)
        if "ExclusiveStartKey" in params:
            self._keys_in(params["TableName"], params["ExclusiveStartKey"])
        return {"Items": []}

    def put_item(self, **params):
        self._record("PutItem", params)
        self._item(params["TableName"], params["Item"])
        return {}

    def update_item(self, **params):
        self._record("UpdateItem", params)
        self._write({"Update": params})
        return {}

    def transact_write_items(self, **params):
        self._record("TransactWriteItems", params)
        operations = params["TransactItems"]
        if len(operations) > TRANSACTION_ITEMS:
            raise Refused(f"{len(operations)} items in one transaction")
        if _size(operations) > TRANSACTION_BYTES:
            raise Refused(f"a transaction of {_size(operations)} bytes")
        for operation in operations:
            self._write(operation)
        return {}

    def batch_get_item(self, **params):
        self._record("BatchGetItem", params)
        for table, request in params["RequestItems"].items():
            if len(request["Keys"]) > 100:
                raise Refused("over 100 keys in one batch")
            for key in request["Keys"]:
                self._keys_in(table, key, indexes=False)
        return {"Responses": {}}

    def batch_write_item(self, **params):
        self._record("BatchWriteItem", params)
        for table, requests in params["RequestItems"].items():
            if len(requests) > 25:
                raise Refused("over 25 writes in one batch")
            for request in requests:
                (kind, body), = request.items()
                if kind == "PutRequest":
                    self._item(table, body["Item"])
                else:
                    self._keys_in(table, body["Key"], indexes=False)
        return {}


def strict_service(items: dict | None = None) -> ChatService:
    settings = Settings()
    return ChatService(Storage(StrictDynamo(items), TABLES), Passwords(4), Tokens(lambda: "k" * 32, 60),
                       budgets={"message": settings.frame_budget, "typing": settings.typing_budget,
                                "room": settings.room_budget, "create_room": settings.create_room_budget,
                                "register": settings.register_budget},
                       login_limits=settings.login_limits)


def connected(username: str, connection_id: str = "conn-1") -> dict:
    """StrictDynamo's stored items for one open connection of `username`, joined to no room."""
    item = {"connection_id": {"S": connection_id}, "item": {"S": "connection"}, "username": {"S": username}}
    return {(TABLES.connections, connection_id.encode(), b"connection"): item}


# -- the stand-in refuses what AWS refuses ------------------------------------------------
def test_the_stand_in_refuses_what_aws_refuses():
    storage = Storage(StrictDynamo(), TABLES)
    with pytest.raises(Refused, match="reversed"):
        storage.messages_page("room", before="01J00000000000000000000001", after="01J00000000000000000000002")
    with pytest.raises(Refused, match="over 2048"):
        storage.messages_page("r" * 2049)
    with pytest.raises(Refused, match="empty"):
        storage.user_by_username("")
    with pytest.raises(Refused, match="over 1024"):
        storage.is_member("room", "u" * 1020)


# -- history cursors -----------------------------------------------------------------------
@pytest.mark.parametrize("after, before", [("01J00000000000000000000002", "01J00000000000000000000001"),
                                           ("01J00000000000000000000001", "01J00000000000000000000001")])
def test_cursors_that_make_no_range_are_refused_before_any_query(after, before):
    for data in ({"after": after, "before": before},
                 {"action": "history", "room": "r", "after": after, "before": before}):
        with pytest.raises(ChatError) as refused:
            parse(HistoryQuery, data) if "action" not in data else parse_frame(json.dumps(data))
        assert refused.value.code == "invalid_request"
        assert refused.value.fields == {"after": "must be an earlier message id than before"}


def test_a_page_between_two_cursors_the_models_admit_is_a_valid_query():
    query = parse(HistoryQuery, {"after": "01J00000000000000000000001", "before": "01J00000000000000000000002"})
    Storage(StrictDynamo(), TABLES).messages_page(dm_id(USERNAME, "v" * 32), query.before, query.after, query.limit)


# -- conversation ids ------------------------------------------------------------------------
@pytest.mark.parametrize("conversation", [
    "dm:alice:", "dm::alice", "dm:alice:" + "x" * 3000, "dm:alice:bo", "dm:alice:b*b", "dm:alice:bob:carol",
    "dm:alice:" + "x" * 33, "dm:alice:bob\n"])
def test_only_two_usernames_make_a_dm_id(conversation):
    assert dm_participants(conversation) is None and not is_dm(conversation)


def test_dm_ids_of_two_usernames_are_dms():
    assert dm_participants(dm_id("Alice", "b.o-b_")) == ("alice", "b.o-b_")


@pytest.mark.parametrize("conversation", ["dm:alice:" + "x" * 3000, "dm:alice:", "dm::alice"])
def test_a_malformed_dm_id_on_the_rest_path_is_no_room(conversation):
    service = strict_service()
    with pytest.raises(ChatError) as refused:
        service.messages("alice", conversation, HistoryQuery())
    assert refused.value.code == "not_found"


@pytest.mark.parametrize("conversation", ["dm:alice:", "dm::alice", "dm:alice:" + "x" * 71])
@pytest.mark.parametrize("action", ["send", "history", "typing", "join", "leave"])
def test_a_malformed_dm_id_in_a_frame_is_no_room(conversation, action):
    service = strict_service(connected("alice"))
    frame = parse_frame(json.dumps({"action": action, "room": conversation, "text": "hi"}))
    with pytest.raises(ChatError) as refused:
        service.handle("conn-1", frame, notifier=None)
    assert refused.value.code == "not_found"


# -- the largest keys and items the models admit ---------------------------------------------
def test_the_largest_room_ids_a_frame_admits_are_keys_dynamodb_takes():
    frame = parse_frame(json.dumps({"action": "join", "room": WIDE * 80}))
    # The service answers ids past MAX_ROOM_ID_BYTES (80) not_found without a read; storage is
    # checked here against the model's own bound, 80 characters of four bytes.
    assert len(frame.room.encode()) == 320
    storage = Storage(StrictDynamo(), TABLES)
    storage.room(frame.room)
    storage.add_member(frame.room, USERNAME, "2026-01-01T00:00:00.000Z")  # by-member: room_id is a sort key
    storage.is_member(frame.room, USERNAME)
    storage.subscribe("c" * 128, frame.room, USERNAME, "2026-01-01T00:00:00.000Z")
    storage.unsubscribe("c" * 128, frame.room)
    storage.connections_in_room(frame.room)
    storage.messages_page(frame.room, after="01J00000000000000000000001", before="01J00000000000000000000002")


def test_the_largest_dm_id_is_a_key_dynamodb_takes():
    largest = dm_id("y" * 32, "z" * 32)
    assert dm_participants(largest) and len(largest.encode()) == 68 <= MAX_ROOM_ID_BYTES


def test_the_largest_message_and_client_id_fit_one_transaction():
    frame = parse_frame(json.dumps({"action": "send", "room": WIDE * 80, "text": WIDE * MAX_TEXT,
                                    "client_id": WIDE * 128}))
    assert len(frame.text) == MAX_TEXT and len(frame.client_id) == 128
    client = StrictDynamo()
    storage = Storage(client, TABLES)
    charge = FrameCharge(kind="message", subject=USERNAME, window=10 ** 12, limit=10 ** 6, expires_at=10 ** 13)
    for room, partner in ((frame.room, None), (dm_id(USERNAME, "v" * 32), "v" * 32)):
        message = Message(id="01J00000000000000000000001", room=room, sender=USERNAME, text=frame.text,
                          ts="2026-01-01T00:00:00.000Z", client_id=frame.client_id)
        storage.put_message(message, charge, dm_partner=partner)
    # The copy that makes client_id idempotent, the message, the head, two DM members, the charge.
    assert max(len(params["TransactItems"]) for _, params in client.requests) == 6
    # client#<room>#<sender>#<client_id>: the worst case, counted by hand.
    assert len("client#".encode()) + 320 + 1 + 32 + 1 + 128 * 4 == 873 <= PARTITION_KEY_BYTES


def test_the_largest_room_name_key_is_a_key_dynamodb_takes():
    def key_bytes(char: str) -> int:
        # What one code point of a stored (NFC) name can become in its key, before the key is
        # composed again (composing never adds bytes): its canonical decomposition, without
        # default-ignorables, case folded and decomposed again.
        kept = "".join(part for part in unicodedata.normalize("NFD", char) if not is_default_ignorable(part))
        return len(unicodedata.normalize("NFD", kept.casefold()).encode())

    widest = max(CODE_POINTS, key=key_bytes)
    assert len(room_name_key(widest).encode()) <= key_bytes(widest) == 12
    assert len("name:") + MAX_ROOM_NAME * key_bytes(widest) <= PARTITION_KEY_BYTES
    request = parse(CreateRoomRequest, {"name": WIDE * MAX_ROOM_NAME, "description": WIDE * MAX_DESCRIPTION})
    Storage(StrictDynamo(), TABLES).create_room(Room(
        id="r" * 12, name=request.name, description=request.description, created_by=USERNAME,
        created_at="2026-01-01T00:00:00.000Z", member_count=0, last_message_at=None))


def test_the_largest_email_is_a_key_dynamodb_takes():
    # email-validator refuses addresses over 254 bytes of UTF-8; lower-casing at most adds
    # half (U+0130 İ, two bytes, lowers to three).
    growth = max(len(char.lower().encode()) / len(char.encode()) for char in CODE_POINTS)
    assert growth == 1.5 and len("email:") + 254 * growth <= PARTITION_KEY_BYTES
    def email(last_label: int) -> str:
        return "x" * 64 + "@" + ".".join(["d" * 63, "d" * 63, "e" * last_label, "com"])
    assert len(email(57)) == 254
    request = parse(RegisterRequest, {"username": USERNAME, "email": email(57), "password": "password1"})
    with pytest.raises(ChatError):
        parse(RegisterRequest, {"username": USERNAME, "email": email(58), "password": "password1"})
    service = strict_service()
    service.register(request, LONGEST_SOURCE_IP)


def test_the_largest_login_names_are_keys_dynamodb_takes():
    service = strict_service()
    for name in (WIDE_UPPER * MAX_LOGIN_NAME, WIDE_UPPER * (MAX_LOGIN_NAME - 4) + "@x.y"):
        request = parse(LoginRequest, {"username": f"  {name}  ", "password": "p" * 1024})
        assert len(request.username.lower().encode()) <= 4 * MAX_LOGIN_NAME
        with pytest.raises(ChatError) as refused:
            service.login(request, LONGEST_SOURCE_IP)
        assert refused.value.code == "invalid_credentials"
    counters = [params["TransactItems"] for operation, params in service.storage.client.requests
                if operation == "TransactWriteItems"]
    longest = max(len(write["Update"]["Key"]["connection_id"]["S"].encode()) for items in counters for write in items)
    assert longest == len("limit:pair:?@") + 4 * MAX_LOGIN_NAME + len(LONGEST_SOURCE_IP) == 1338


@pytest.mark.parametrize("name", ["", " ", "\t\n", "\x1c\x1f", "\u3000"])
def test_a_blank_login_name_is_refused_before_it_becomes_an_empty_key(name):
    with pytest.raises(ChatError) as refused:
        parse(LoginRequest, {"username": name, "password": "x"})
    assert refused.value.code == "invalid_request" and "username" in refused.value.fields


def test_the_largest_room_cursor_is_a_key_dynamodb_takes():
    from chalicelib.models import RoomListQuery
    query = parse(RoomListQuery, {"cursor": "2026-01-01T00:00:00.000Z~" + "r" * 80, "limit": 100})
    Storage(StrictDynamo(), TABLES).rooms_page(query.limit, query.cursor)
