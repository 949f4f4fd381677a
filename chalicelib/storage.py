"""Every DynamoDB read and write of the app, each named for what it finds or changes.

Reads on user actions are GetItem or Query on a key or an index, never Scan.
Uniqueness (usernames, emails, room names, client ids) rests on conditional writes.
"""
import time
from decimal import Decimal
from functools import lru_cache

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from .config import settings
from .errors import ChatError

# API Gateway closes every connection after 2 hours; expire leftovers a little later.
CONNECTION_TTL_SECONDS = 2 * 3600 + 600

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _dump(item: dict) -> dict:
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def _plain(value):
    if isinstance(value, Decimal):
        return int(value)
    return value


def _load(item: dict | None) -> dict | None:
    if item is None:
        return None
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _values(**values) -> dict:
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


def _is_condition_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _cancellation_reasons(error: ClientError) -> list[dict] | None:
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return None
    return error.response.get("CancellationReasons", [])


class FrameBudgetSpent(Exception):
    """The connection has sent its allowance of frames for the current window."""


class NewerMessageStored(Exception):
    """The conversation already holds a message with a later id: make a newer id and retry."""

    def __init__(self, last_message_id: str):
        super().__init__(last_message_id)
        self.last_message_id = last_message_id


def dm_participants(conversation_id: str) -> tuple[str, str] | None:
    parts = conversation_id.split(":")
    if len(parts) == 3 and parts[0] == "dm":
        return parts[1], parts[2]
    return None


def dm_id(user_a: str, user_b: str) -> str:
    first, second = sorted((user_a.lower(), user_b.lower()))
    return f"dm:{first}:{second}"


@lru_cache(maxsize=1)
def dynamodb_client():
    # Standard retry mode backs off on throttling with a retry quota, so a throttled
    # table slows callers down instead of multiplying the load.
    return boto3.client("dynamodb", config=Config(
        retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=32,
        # Five tries must fit in API Gateway's 29 s integration limit.
        connect_timeout=2, read_timeout=4))


class Storage:
    def __init__(self, client=None):
        self.client = client or dynamodb_client()
        config = settings()
        self.users = config.users_table
        self.rooms = config.rooms_table
        self.connections = config.connections_table
        self.messages = config.messages_table

    # -- users -------------------------------------------------------------------
    def _put_new(self, table: str, key_attribute: str, items: list[dict]) -> list[bool] | None:
        """Puts items that must not exist yet, all or none. Returns None when stored,
        else which of the items already existed."""
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": _dump(item),
                         "ConditionExpression": f"attribute_not_exists({key_attribute})"}} for item in items])
        except ClientError as error:
            reasons = _cancellation_reasons(error)
            if reasons is None:
                raise
            existed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
            if not any(existed):
                raise  # cancelled for another reason, e.g. a concurrent transaction
            return existed
        return None

    def create_user(self, user: dict) -> None:
        """Stores a new user; raises conflict naming the field that is taken."""
        email_lock = {"username_key": f"email:{user['email_key']}", "owner": user["username_key"]}
        existed = self._put_new(self.users, "username_key", [user, email_lock])
        if existed and existed[0]:
            raise ChatError("conflict", "That username is taken.", {"username": "is taken"})
        if existed:
            raise ChatError("conflict", "That email is already registered.", {"email": "is already registered"})

    def user_by_username(self, username: str) -> dict | None:
        response = self.client.get_item(TableName=self.users,
                                        Key=_dump({"username_key": username.lower()}))
        return _load(response.get("Item"))

    def user_by_email(self, email: str) -> dict | None:
        response = self.client.query(
            TableName=self.users, IndexName="by-email", Limit=1,
            KeyConditionExpression="email_key = :email", ExpressionAttributeValues=_values(email=email.lower()))
        items = response.get("Items", [])
        return _load(items[0]) if items else None

    # -- rooms -------------------------------------------------------------------
    def create_room(self, room: dict) -> None:
        item = {**room, "item": "room", "kind": "room"}
        name_lock = {"room_id": f"name:{room['name_key']}", "item": "room", "owner": room["room_id"]}
        if self._put_new(self.rooms, "room_id", [name_lock, item]):
            raise ChatError("conflict", "A room with that name exists.", {"name": "is taken"})

    def room(self, room_id: str) -> dict | None:
        response = self.client.get_item(TableName=self.rooms, Key=_dump({"room_id": room_id, "item": "room"}))
        item = _load(response.get("Item"))
        # Name locks share the key shape of rooms; only real rooms carry a kind.
        return item if item and item.get("kind") == "room" else None

    def _query_all(self, **query) -> list[dict]:
        items, start = [], None
        while True:
            if start:
                query["ExclusiveStartKey"] = start
            response = self.client.query(**query)
            items.extend(_load(item) for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return items

    def all_rooms(self) -> list[dict]:
        return self._query_all(TableName=self.rooms, IndexName="rooms-by-created",
                               KeyConditionExpression="kind = :kind", ExpressionAttributeValues=_values(kind="room"))

    def add_member(self, conversation_id: str, username: str, **extra) -> bool:
        """Makes a user a durable member; False when they already were."""
        member = {"room_id": conversation_id, "item": f"member#{username.lower()}", "member": username.lower(),
                  "username": username, "joined_at": extra.pop("joined_at"), **extra}
        writes = [{"Put": {"TableName": self.rooms, "Item": _dump(member),
                           "ConditionExpression": "attribute_not_exists(room_id)"}}]
        if dm_participants(conversation_id) is None:
            writes.append({"Update": {
                "TableName": self.rooms, "Key": _dump({"room_id": conversation_id, "item": "room"}),
                "UpdateExpression": "ADD member_count :one", "ExpressionAttributeValues": _values(one=1)}})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if _cancellation_reasons(error) is None:
                raise
            return False
        return True

    def remove_member(self, room_id: str, username: str) -> bool:
        try:
            self.client.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self.rooms,
                            "Key": _dump({"room_id": room_id, "item": f"member#{username.lower()}"}),
                            "ConditionExpression": "attribute_exists(room_id)"}},
                {"Update": {"TableName": self.rooms, "Key": _dump({"room_id": room_id, "item": "room"}),
                            "UpdateExpression": "ADD member_count :minus", "ExpressionAttributeValues":
                            _values(minus=-1)}},
            ])
        except ClientError as error:
            if _cancellation_reasons(error) is None:
                raise
            return False
        return True

    def is_member(self, room_id: str, username: str) -> bool:
        response = self.client.get_item(
            TableName=self.rooms, Key=_dump({"room_id": room_id, "item": f"member#{username.lower()}"}),
            ProjectionExpression="room_id")
        return "Item" in response

    def member_names(self, room_id: str) -> list[str]:
        items = self._query_all(
            TableName=self.rooms, KeyConditionExpression="room_id = :room AND begins_with(#item, :prefix)",
            ExpressionAttributeNames={"#item": "item"}, ExpressionAttributeValues=_values(room=room_id,
                                                                                          prefix="member#"))
        return [item["username"] for item in items]

    def memberships_of_user(self, username: str) -> list[dict]:
        """The member items of every room and DM conversation the user belongs to."""
        return self._query_all(TableName=self.rooms, IndexName="by-member",
                               KeyConditionExpression="member = :member",
                               ExpressionAttributeValues=_values(member=username.lower()))

    # -- messages ----------------------------------------------------------------
    def put_message(self, message: dict, client_key: str | None, touch_room: bool,
                    dm_members: list[dict] = (), counter: dict | None = None) -> tuple[dict, bool]:
        """Stores a message in one transaction with what goes with it, counting it in the
        sender's frame budget (`counter`, from frame_counter) when given.

        Returns (message, True), or (the message stored earlier, False) when the
        sender's client_id was already used in this conversation; raises
        FrameBudgetSpent when the budget's condition failed.
        """
        item = {"conversation_id": message["room"], "message_id": message["id"], "sender": message["sender"],
                "text": message["text"], "ts": message["ts"], "client_id": message.get("client_id")}
        writes = []
        if client_key:
            copy = {**item, "conversation_id": client_key, "message_id": "client",
                    "original_room": message["room"], "original_id": message["id"]}
            writes.append({"Put": {"TableName": self.messages, "Item": _dump(copy),
                                   "ConditionExpression": "attribute_not_exists(conversation_id)",
                                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        writes.append({"Put": {"TableName": self.messages, "Item": _dump(item)}})
        # Messages commit in id order per conversation, so a client that resumes `after` the newest
        # id it saw cannot miss one that an overlapping send stored later with an older id.
        order = "attribute_not_exists(last_message_id) OR last_message_id < :id"
        writes.append({"Update": {
            "TableName": self.rooms,
            "Key": _dump({"room_id": message["room"], "item": "room" if touch_room else "sequence"}),
            "UpdateExpression": "SET last_message_id = :id" + (", last_message_at = :ts" if touch_room else ""),
            "ConditionExpression": f"attribute_exists(room_id) AND ({order})" if touch_room else order,
            "ExpressionAttributeValues": _values(id=message["id"], **({"ts": message["ts"]} if touch_room else {})),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        order_index = len(writes) - 1
        for member in dm_members:
            writes.append({"Put": {"TableName": self.rooms, "Item": _dump(
                {"room_id": message["room"], "item": f"member#{member['member']}", **member})}})
        if counter:
            writes.append({"Update": counter})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            reasons = _cancellation_reasons(error)
            if not reasons:
                raise
            failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
            if client_key and failed[0] and reasons[0].get("Item"):
                stored = _load(reasons[0]["Item"])
                return self._message(stored, stored["original_room"], stored["original_id"]), False
            if counter and failed[-1]:
                raise FrameBudgetSpent() from None
            if failed[order_index]:
                newest = _load(reasons[order_index].get("Item")) or {}
                if "last_message_id" not in newest:
                    raise ChatError("not_found", "That room does not exist.") from None
                raise NewerMessageStored(newest["last_message_id"]) from None
            raise
        return message, True

    @staticmethod
    def _message(item: dict, room: str, message_id: str) -> dict:
        return {"id": message_id, "room": room, "sender": item["sender"], "text": item["text"],
                "ts": item["ts"], "client_id": item.get("client_id")}

    def messages_page(self, conversation_id: str, before: str | None = None, after: str | None = None,
                      limit: int = 50) -> tuple[list[dict], bool]:
        """Up to `limit` messages, oldest first, and whether more lie beyond them.

        With `after` the page starts right after it (catching up); otherwise it ends
        at `before` or at the newest message (scrolling back).
        """
        condition, values = "conversation_id = :conv", {"conv": conversation_id}
        if after and before:
            condition += " AND message_id BETWEEN :after AND :before"
            values.update(after=after, before=before)
        elif after:
            condition += " AND message_id > :after"
            values["after"] = after
        elif before:
            condition += " AND message_id < :before"
            values["before"] = before
        forward = after is not None
        response = self.client.query(TableName=self.messages, KeyConditionExpression=condition,
                                     ExpressionAttributeValues=_values(**values),
                                     # BETWEEN includes `after` itself: read one more.
                                     ScanIndexForward=forward, Limit=limit + (2 if after and before else 1))
        items = [_load(item) for item in response.get("Items", [])]
        if after and before:
            items = [item for item in items if after < item["message_id"] < before]
        more = len(items) > limit
        items = items[:limit]
        if not forward:
            items.reverse()
        return [self._message(item, conversation_id, item["message_id"]) for item in items], more

    # -- connections -------------------------------------------------------------
    def put_connection(self, connection_id: str, username: str, connected_at: str) -> None:
        self.client.put_item(TableName=self.connections, Item=_dump({
            "connection_id": connection_id, "item": "connection", "username": username,
            "username_key": username.lower(), "presence": "online", "connected_at": connected_at,
            "expires_at": int(time.time()) + CONNECTION_TTL_SECONDS}))

    def connection(self, connection_id: str) -> dict | None:
        response = self.client.get_item(TableName=self.connections,
                                        Key=_dump({"connection_id": connection_id, "item": "connection"}))
        return _load(response.get("Item"))

    def subscribe(self, connection_id: str, room_id: str, username: str, joined_at: str) -> None:
        """Joins a connection to a room: its subscription item (found by room through the
        by-room index) and the room set on the connection item (checked on every send)."""
        self.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.connections, "Item": _dump({
                "connection_id": connection_id, "item": f"room#{room_id}", "room_id": room_id,
                "username": username, "joined_at": joined_at,
                "expires_at": int(time.time()) + CONNECTION_TTL_SECONDS})}},
            {"Update": {"TableName": self.connections,
                        "Key": _dump({"connection_id": connection_id, "item": "connection"}),
                        "UpdateExpression": "ADD rooms :room", "ConditionExpression": "attribute_exists(connection_id)",
                        "ExpressionAttributeValues": {":room": {"SS": [room_id]}}}},
        ])

    def unsubscribe(self, connection_id: str, room_id: str) -> None:
        self.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": self.connections,
                        "Key": _dump({"connection_id": connection_id, "item": f"room#{room_id}"})}},
            {"Update": {"TableName": self.connections,
                        "Key": _dump({"connection_id": connection_id, "item": "connection"}),
                        "UpdateExpression": "DELETE rooms :room", "ConditionExpression": "attribute_exists(connection_id)",
                        "ExpressionAttributeValues": {":room": {"SS": [room_id]}}}},
        ])

    def frame_counter(self, connection_id: str, counted_window, window: int, limit: int) -> dict:
        """The conditional update that counts one frame in the connection's budget for
        `window`: to run alone (typing) or inside a message's transaction (send, dm)."""
        update = {"TableName": self.connections,
                  "Key": _dump({"connection_id": connection_id, "item": "connection"}),
                  "ExpressionAttributeValues": _values(one=1, w=window)}
        if counted_window == window:
            update["UpdateExpression"] = "ADD frames :one"
            update["ConditionExpression"] = "win = :w AND frames < :limit"
            update["ExpressionAttributeValues"].update(_values(limit=limit))
        else:
            update["UpdateExpression"] = "SET win = :w, frames = :one"
            update["ConditionExpression"] = "attribute_exists(connection_id) AND (attribute_not_exists(win) OR win <> :w)"
        return update

    def count_frame(self, counter: dict) -> bool:
        try:
            self.client.update_item(**counter)
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    # -- login throttling --------------------------------------------------------
    def failure_counts(self, subjects: list[str], window: int) -> dict[str, int]:
        """Failed logins per subject ('user:alice', 'ip:1.2.3.4') in a window, in one read."""
        keys = [_dump({"connection_id": f"limit:{subject}", "item": f"window#{window}"}) for subject in subjects]
        response = self.client.batch_get_item(RequestItems={self.connections: {"Keys": keys}})
        counts = dict.fromkeys(subjects, 0)
        for item in map(_load, response.get("Responses", {}).get(self.connections, [])):
            counts[item["connection_id"].removeprefix("limit:")] = item.get("failures", 0)
        return counts

    def count_failure(self, subject: str, window: int, expires_at: int) -> None:
        # Kept in the connections table for its TTL; these items carry no index attributes.
        self.client.update_item(
            TableName=self.connections, Key=_dump({"connection_id": f"limit:{subject}", "item": f"window#{window}"}),
            UpdateExpression="ADD failures :one SET expires_at = :expires",
            ExpressionAttributeValues=_values(one=1, expires=expires_at))

    def connections_in_room(self, room_id: str) -> list[dict]:
        """[{connection_id, username}] of every connection that joined the room."""
        return self._query_all(TableName=self.connections, IndexName="by-room",
                               KeyConditionExpression="room_id = :room",
                               ExpressionAttributeValues=_values(room=room_id))

    def connection_ids_of_user(self, username: str) -> list[str]:
        items = self._query_all(TableName=self.connections, IndexName="by-user",
                                KeyConditionExpression="username_key = :user",
                                ExpressionAttributeValues=_values(user=username.lower()))
        return [item["connection_id"] for item in items]

    def online_usernames(self) -> list[str]:
        items = self._query_all(TableName=self.connections, IndexName="online",
                                KeyConditionExpression="presence = :online",
                                ExpressionAttributeValues=_values(online="online"))
        return sorted({item["username"] for item in items}, key=str.lower)

    def delete_connection(self, connection_id: str) -> tuple[dict | None, list[str]]:
        """Removes a connection and its subscriptions; returns it and the rooms it had joined."""
        items = self._query_all(TableName=self.connections, KeyConditionExpression="connection_id = :id",
                                ExpressionAttributeValues=_values(id=connection_id))
        main = next((item for item in items if item["item"] == "connection"), None)
        rooms = [item["room_id"] for item in items if item["item"].startswith("room#")]
        keys = [{"connection_id": connection_id, "item": item["item"]} for item in items]
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": _dump(key)}} for key in keys[start:start + 25]]
            pending = {self.connections: requests}
            for attempt in range(8):
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                if not pending:
                    break
                time.sleep(0.05 * 2 ** attempt)
        return main, rooms
