"""The repository: every DynamoDB read and write of the app, each named for what it finds
or changes. It builds every key and attribute it stores and raises the domain exceptions
below; it holds no user-facing text and no rule about who may do what.

Reads on user actions are GetItem or Query on a key or an index, never Scan.
Uniqueness (usernames, emails, room names, client ids) rests on conditional writes.
"""
import threading
import time
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .config import Tables
from .conversations import is_dm
from .names import room_name_key
from .records import Connection, FrameCharge, LoginFailures, Membership, StoredUser, Subscriber
from .shapes import Message, Room

# API Gateway closes every connection after 2 hours; expire leftovers a little later.
CONNECTION_TTL_SECONDS = 2 * 3600 + 600

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# -- domain exceptions -----------------------------------------------------------------
class UsernameTaken(Exception):
    pass


class EmailTaken(Exception):
    pass


class RoomNameTaken(Exception):
    pass


class NoSuchRoom(Exception):
    pass


class FrameBudgetSpent(Exception):
    """The connection has sent its allowance of frames for the current window."""


class NewerMessageStored(Exception):
    """Another message was committed to the conversation first: make a newer id and retry."""

    def __init__(self, last_message_id: str | None):
        super().__init__(last_message_id)
        self.last_message_id = last_message_id


# -- item encoding ---------------------------------------------------------------------
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


def _user(item: dict | None) -> StoredUser | None:
    if item is None:
        return None
    return StoredUser(username=item["username"], email=item["email"], password_hash=item["password_hash"],
                      created_at=item["created_at"])


def _room(item: dict) -> Room:
    return Room(id=item["room_id"], name=item["name"], description=item.get("description", ""),
                created_by=item["created_by"], created_at=item["created_at"],
                member_count=item.get("member_count", 0), last_message_at=item.get("last_message_at"))


def _message(item: dict, room: str, message_id: str) -> Message:
    # Messages stored before sequence numbers existed have none: 0.
    return Message(id=message_id, room=room, sender=item["sender"], text=item["text"], ts=item["ts"],
                   client_id=item.get("client_id"), seq=item.get("seq", 0))


def _connection(item: dict | None) -> Connection | None:
    if item is None:
        return None
    return Connection(connection_id=item["connection_id"], username=item["username"],
                      rooms=frozenset(item.get("rooms", ())))


def _expiry() -> int:
    return int(time.time()) + CONNECTION_TTL_SECONDS


class Storage:
    def __init__(self, client, tables: Tables):
        self.client = client
        self.users = tables.users
        self.rooms = tables.rooms
        self.connections = tables.connections
        self.messages = tables.messages
        # The last seq this container saw per conversation: the guess a send's conditional
        # write starts from, so that assigning a seq costs no read. A wrong guess only costs
        # a retry, which learns the right one from the failed condition.
        self._last_seq: dict[str, int] = {}
        # Sends to one conversation from this process take turns (a Lambda container serves
        # one request at a time anyway; the local server serves many on threads): they queue
        # instead of failing each other's conditions. Across processes the condition decides.
        self._head_locks = [threading.Lock() for _ in range(64)]

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

    # -- users -------------------------------------------------------------------
    def create_user(self, user: StoredUser) -> None:
        """Stores a new user; raises UsernameTaken or EmailTaken."""
        item = {"username_key": user.username.lower(), "username": user.username, "email": user.email,
                "email_key": user.email.lower(), "password_hash": user.password_hash, "created_at": user.created_at}
        email_lock = {"username_key": f"email:{item['email_key']}", "owner": item["username_key"]}
        existed = self._put_new(self.users, "username_key", [item, email_lock])
        if existed and existed[0]:
            raise UsernameTaken()
        if existed:
            raise EmailTaken()

    def user_by_username(self, username: str) -> StoredUser | None:
        response = self.client.get_item(TableName=self.users, Key=_dump({"username_key": username.lower()}))
        item = _load(response.get("Item"))
        # Email locks share the key space; only users have a password hash.
        return _user(item) if item and "password_hash" in item else None

    def user_by_email(self, email: str) -> StoredUser | None:
        response = self.client.query(
            TableName=self.users, IndexName="by-email", Limit=1,
            KeyConditionExpression="email_key = :email", ExpressionAttributeValues=_values(email=email.lower()))
        items = response.get("Items", [])
        return _user(_load(items[0])) if items else None

    # -- rooms -------------------------------------------------------------------
    def create_room(self, room: Room) -> None:
        """Stores a new room; raises RoomNameTaken when another has its name in any case."""
        name_key = room_name_key(room.name)
        item = {"room_id": room.id, "item": "room", "kind": "room", "name": room.name, "name_key": name_key,
                "description": room.description, "created_by": room.created_by, "created_at": room.created_at,
                "member_count": room.member_count}
        name_lock = {"room_id": f"name:{name_key}", "item": "room", "owner": room.id}
        if self._put_new(self.rooms, "room_id", [name_lock, item]):
            raise RoomNameTaken()

    def room(self, room_id: str) -> Room | None:
        response = self.client.get_item(TableName=self.rooms, Key=_dump({"room_id": room_id, "item": "room"}))
        item = _load(response.get("Item"))
        # Name locks share the key shape of rooms; only real rooms carry a kind.
        return _room(item) if item and item.get("kind") == "room" else None

    def rooms_page(self, limit: int, cursor: str | None = None) -> tuple[list[Room], str | None]:
        """Up to `limit` rooms, oldest first, after `cursor` (models.ROOM_CURSOR_PATTERN); and
        the cursor of the next page (None on the last)."""
        query = {"TableName": self.rooms, "IndexName": "rooms-by-created", "Limit": limit,
                 "KeyConditionExpression": "kind = :kind", "ExpressionAttributeValues": _values(kind="room")}
        if cursor:
            created_at, _, room_id = cursor.partition("~")
            query["ExclusiveStartKey"] = _dump({"room_id": room_id, "item": "room", "kind": "room",
                                                "created_at": created_at})
        response = self.client.query(**query)
        last = _load(response.get("LastEvaluatedKey"))
        next_cursor = f"{last['created_at']}~{last['room_id']}" if last else None
        return [_room(_load(item)) for item in response.get("Items", [])], next_cursor

    def add_member(self, room_id: str, username: str, joined_at: str) -> bool:
        """Makes a user a durable member of a room; False when they already were."""
        member = {"room_id": room_id, "item": f"member#{username.lower()}", "member": username.lower(),
                  "username": username, "joined_at": joined_at}
        return self._change_membership(
            {"Put": {"TableName": self.rooms, "Item": _dump(member),
                     "ConditionExpression": "attribute_not_exists(room_id)"}}, room_id, +1)

    def remove_member(self, room_id: str, username: str) -> bool:
        """Ends a user's membership of a room; False when they were not a member."""
        return self._change_membership(
            {"Delete": {"TableName": self.rooms,
                        "Key": _dump({"room_id": room_id, "item": f"member#{username.lower()}"}),
                        "ConditionExpression": "attribute_exists(room_id)"}}, room_id, -1)

    def _change_membership(self, member_write: dict, room_id: str, change: int) -> bool:
        """The member item's conditional write and the room's member_count, together or not at all."""
        try:
            self.client.transact_write_items(TransactItems=[member_write, {"Update": {
                "TableName": self.rooms, "Key": _dump({"room_id": room_id, "item": "room"}),
                "UpdateExpression": "ADD member_count :change", "ExpressionAttributeValues": _values(change=change)}}])
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

    def memberships_of_user(self, username: str) -> list[Membership]:
        """Every room and DM conversation the user belongs to."""
        items = self._query_all(TableName=self.rooms, IndexName="by-member",
                                KeyConditionExpression="member = :member",
                                ExpressionAttributeValues=_values(member=username.lower()))
        return [Membership(conversation_id=item["room_id"], partner=item.get("with"),
                           last_message_at=item.get("last_message_at")) for item in items]

    # -- messages ----------------------------------------------------------------
    def put_message(self, message: Message, charge: FrameCharge | None = None,
                    dm_partner: str | None = None) -> tuple[Message, bool]:
        """Stores a message with the conversation's next seq, in one transaction with what
        goes with it: the item that makes its client_id idempotent, the conversation's head
        (last seq and id; for rooms also last_message_at) and, for a DM, both participants'
        member items (`dm_partner` as registered); `charge` counts it in the sender's budget.

        Returns (the stored message, True), or (the message stored earlier, False) when the
        sender's client_id was already used in this conversation. Raises FrameBudgetSpent,
        NewerMessageStored (retry with a later id) or NoSuchRoom.
        """
        with self._head_locks[hash(message.room) % len(self._head_locks)]:
            return self._put_next_message(message, charge, dm_partner)

    def _put_next_message(self, message: Message, charge: FrameCharge | None,
                          dm_partner: str | None) -> tuple[Message, bool]:
        seq = self._last_seq.get(message.room, 0) + 1
        message = message.model_copy(update={"seq": seq})
        item = {"conversation_id": message.room, "message_id": message.id, "sender": message.sender,
                "text": message.text, "ts": message.ts, "client_id": message.client_id, "seq": seq}
        writes = []
        if message.client_id:
            client_key = f"client#{message.room}#{message.sender.lower()}#{message.client_id}"
            copy = {**item, "conversation_id": client_key, "message_id": "client",
                    "original_room": message.room, "original_id": message.id}
            writes.append({"Put": {"TableName": self.messages, "Item": _dump(copy),
                                   "ConditionExpression": "attribute_not_exists(conversation_id)",
                                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}})
        writes.append({"Put": {"TableName": self.messages, "Item": _dump(item)}})
        head_index = len(writes)
        writes.append({"Update": self._head_update(message)})
        if dm_partner is not None:
            writes.extend({"Put": {"TableName": self.rooms, "Item": _dump(member)}}
                          for member in self._dm_members(message, dm_partner))
        if charge:
            writes.append({"Update": self._charge_update(charge)})
        try:
            self.client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            reasons = _cancellation_reasons(error)
            if not reasons:
                raise
            failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
            if message.client_id and failed[0] and reasons[0].get("Item"):
                stored = _load(reasons[0]["Item"])
                # The same id means botocore retried this very write after it had landed (its
                # answer lost): that is this send, not a client's retry.
                fresh = stored["original_id"] == message.id
                if fresh:
                    self._remember_seq(message.room, stored.get("seq", 0))
                return _message(stored, stored["original_room"], stored["original_id"]), fresh
            if charge and failed[-1]:
                raise FrameBudgetSpent() from None
            if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
                # DynamoDB's answer to overlapping transactions on the conversation's head.
                raise NewerMessageStored(None) from None
            if failed[head_index]:
                head = _load(reasons[head_index].get("Item"))
                if not head:
                    raise NoSuchRoom() from None
                self._remember_seq(message.room, head.get("seq", 0))
                raise NewerMessageStored(head["last_message_id"]) from None
            raise
        self._remember_seq(message.room, seq)
        return message, True

    def _head_update(self, message: Message) -> dict:
        """The conversation's head moves to this message only if it is the very next one: the
        seq it expects follows the stored one and its id sorts after the stored last id. So
        seqs run 1, 2, 3… without gaps, and commit order, seq order and id order agree."""
        room = not is_dm(message.room)
        expected = "seq = :previous" if message.seq > 1 else "attribute_not_exists(seq)"
        condition = f"({expected}) AND (attribute_not_exists(last_message_id) OR last_message_id < :id)"
        values = {"id": message.id, "seq": message.seq}
        if message.seq > 1:
            values["previous"] = message.seq - 1
        update = "SET last_message_id = :id, seq = :seq"
        if room:
            condition = f"attribute_exists(room_id) AND {condition}"
            update += ", last_message_at = :ts"
            values["ts"] = message.ts
        return {"TableName": self.rooms, "Key": _dump({"room_id": message.room, "item": "room" if room else "sequence"}),
                "UpdateExpression": update, "ConditionExpression": condition,
                "ExpressionAttributeValues": _values(**values), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

    def _remember_seq(self, conversation_id: str, seq: int) -> None:
        if len(self._last_seq) > 10_000:  # a hint, not a record: start over rather than grow
            self._last_seq.clear()
        if seq > self._last_seq.get(conversation_id, 0):
            self._last_seq[conversation_id] = seq

    @staticmethod
    def _dm_members(message: Message, partner: str) -> list[dict]:
        """Both participants' member items of a DM, which list it among their conversations."""
        sender = {"room_id": message.room, "item": f"member#{message.sender.lower()}",
                  "member": message.sender.lower(), "username": message.sender, "with": partner,
                  "last_message_at": message.ts}
        if partner.lower() == message.sender.lower():
            return [sender]
        return [sender, {"room_id": message.room, "item": f"member#{partner.lower()}", "member": partner.lower(),
                         "username": partner, "with": message.sender, "last_message_at": message.ts}]

    def messages_page(self, conversation_id: str, before: str | None = None, after: str | None = None,
                      limit: int = 50) -> tuple[list[Message], bool]:
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
        return [_message(item, conversation_id, item["message_id"]) for item in items], more

    # -- connections -------------------------------------------------------------
    def put_connection(self, connection_id: str, username: str, connected_at: str) -> None:
        self.client.put_item(TableName=self.connections, Item=_dump({
            "connection_id": connection_id, "item": "connection", "username": username,
            "username_key": username.lower(), "presence": "online", "connected_at": connected_at,
            "expires_at": _expiry()}))

    def connection(self, connection_id: str) -> Connection | None:
        response = self.client.get_item(TableName=self.connections,
                                        Key=_dump({"connection_id": connection_id, "item": "connection"}))
        return _connection(_load(response.get("Item")))

    def subscribe(self, connection_id: str, room_id: str, username: str, joined_at: str) -> None:
        """Joins a connection to a room: its subscription item (found by room through the
        by-room index) and the room set on the connection item (checked on every send)."""
        self.client.transact_write_items(TransactItems=[
            {"Put": {"TableName": self.connections, "Item": _dump({
                "connection_id": connection_id, "item": f"room#{room_id}", "room_id": room_id,
                "username": username, "joined_at": joined_at, "expires_at": _expiry()})}},
            self._room_set_update(connection_id, "ADD", room_id),
        ])

    def unsubscribe(self, connection_id: str, room_id: str) -> None:
        self.client.transact_write_items(TransactItems=[
            {"Delete": {"TableName": self.connections,
                        "Key": _dump({"connection_id": connection_id, "item": f"room#{room_id}"})}},
            self._room_set_update(connection_id, "DELETE", room_id),
        ])

    def _room_set_update(self, connection_id: str, operation: str, room_id: str) -> dict:
        return {"Update": {"TableName": self.connections,
                           "Key": _dump({"connection_id": connection_id, "item": "connection"}),
                           "UpdateExpression": f"{operation} rooms :room",
                           "ConditionExpression": "attribute_exists(connection_id)",
                           "ExpressionAttributeValues": {":room": {"SS": [room_id]}}}}

    def _charge_update(self, charge: FrameCharge) -> dict:
        """The conditional update that counts one frame in the user's budget for its window:
        alone (typing, join…) or inside a message's transaction (send, dm). One counter item
        per user, kind and window, so no read is needed and concurrent frames cannot both
        take the last slot."""
        return {"TableName": self.connections,
                "Key": _dump({"connection_id": f"budget:{charge.kind}:{charge.subject.lower()}",
                              "item": f"window#{charge.window}"}),
                "UpdateExpression": "ADD frames :one SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(frames) OR frames < :limit",
                "ExpressionAttributeValues": _values(one=1, limit=charge.limit, expires=charge.expires_at)}

    def count_frame(self, charge: FrameCharge) -> None:
        """Counts a frame that stores nothing else; raises FrameBudgetSpent."""
        try:
            self.client.update_item(**self._charge_update(charge))
        except ClientError as error:
            if _is_condition_failure(error):
                raise FrameBudgetSpent() from None
            raise

    def connections_in_room(self, room_id: str) -> list[Subscriber]:
        items = self._query_all(TableName=self.connections, IndexName="by-room",
                                KeyConditionExpression="room_id = :room",
                                ExpressionAttributeValues=_values(room=room_id))
        return [Subscriber(connection_id=item["connection_id"], username=item["username"]) for item in items]

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

    def delete_connection(self, connection_id: str) -> tuple[Connection | None, list[str]]:
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
        return _connection(main), rooms

    # -- login throttling --------------------------------------------------------
    # Kept in the connections table for its TTL; these items carry no index attributes.
    @staticmethod
    def _failure_keys(account: str, source_ip: str, window: int) -> dict[str, dict]:
        subjects = {"pair": f"pair:{account.lower()}@{source_ip}", "account": f"account:{account.lower()}",
                    "address": f"ip:{source_ip}"}
        return {scope: {"connection_id": f"limit:{subject}", "item": f"window#{window}"}
                for scope, subject in subjects.items()}

    def failed_logins(self, account: str, source_ip: str, window: int) -> LoginFailures:
        """The failed logins in a window for the account from this address, for the account
        from anywhere and from this address for any account, in one read."""
        keys = self._failure_keys(account, source_ip, window)
        response = self.client.batch_get_item(
            RequestItems={self.connections: {"Keys": [_dump(key) for key in keys.values()]}})
        counts = {item["connection_id"]: item.get("failures", 0)
                  for item in map(_load, response.get("Responses", {}).get(self.connections, []))}
        return LoginFailures(**{scope: counts.get(key["connection_id"], 0) for scope, key in keys.items()})

    def count_failed_login(self, account: str, source_ip: str, window: int, expires_at: int) -> None:
        self.client.transact_write_items(TransactItems=[
            {"Update": {"TableName": self.connections, "Key": _dump(key),
                        "UpdateExpression": "ADD failures :one SET expires_at = :expires",
                        "ExpressionAttributeValues": _values(one=1, expires=expires_at)}}
            for key in self._failure_keys(account, source_ip, window).values()])
