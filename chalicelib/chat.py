"""The chat rules: who may read and write where, and who hears about it."""
import secrets
import time
from datetime import datetime, timezone

from . import auth, frames
from .ids import message_id
from .errors import ChatError, forbidden, invalid, not_found
from .models import (MAX_HISTORY_PAGE, CreateRoomRequest, DmFrame, HistoryFrame, HistoryQuery, JoinFrame,
                     LeaveFrame, LoginRequest, PingFrame, RegisterRequest, SendFrame, TypingFrame)
from .config import settings
from .notifier import Notifier
from .storage import FrameBudgetSpent, NewerMessageStored, Storage, dm_id, dm_participants

# Overlapping sends to one conversation each lose the race at most once per winner.
MAX_ORDER_RETRIES = 5


def now_iso(seconds: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def public_user(user: dict, viewer: str | None = None) -> dict:
    view = {"username": user["username"], "created_at": user["created_at"]}
    if viewer is not None and viewer.lower() == user["username_key"]:
        view["email"] = user["email"]
    return view


def room_view(room: dict) -> dict:
    return {"id": room["room_id"], "name": room["name"], "description": room.get("description", ""),
            "created_by": room["created_by"], "created_at": room["created_at"],
            "member_count": room.get("member_count", 0), "last_message_at": room.get("last_message_at")}


class ChatService:
    def __init__(self, storage: Storage):
        self.storage = storage

    # -- accounts ----------------------------------------------------------------
    def register(self, request: RegisterRequest) -> dict:
        user = {"username_key": request.username.lower(), "username": request.username,
                "email": request.email, "email_key": request.email.lower(),
                "password_hash": auth.hash_password(request.password), "created_at": now_iso()}
        self.storage.create_user(user)
        return {"token": auth.issue_token(user["username"]), "user": public_user(user, user["username"])}

    def login(self, request: LoginRequest, source_ip: str) -> dict:
        """Checks credentials; too many failures for the name or from the address lock both out
        for the rest of the window, before any password is checked."""
        config = settings()
        name = request.username.strip()
        now = time.time()
        window = int(now // config.login_failure_window_seconds)
        window_end = (window + 1) * config.login_failure_window_seconds
        subjects = [f"user:{name.lower()}", f"ip:{source_ip}"]
        if max(self.storage.failure_counts(subjects, window).values()) >= config.login_failure_limit:
            raise ChatError("rate_limited", "Too many failed logins; try again later.",
                            retry_after=max(1, int(window_end - now)))
        user = self.storage.user_by_email(name) if "@" in name else self.storage.user_by_username(name)
        if not auth.password_matches(request.password, user["password_hash"] if user else None):
            for subject in subjects:
                self.storage.count_failure(subject, window, int(window_end) + 60)
            raise ChatError("invalid_credentials", "Wrong username or password.")
        return {"token": auth.issue_token(user["username"]), "user": public_user(user, user["username"])}

    def me(self, username: str) -> dict:
        user = self.storage.user_by_username(username)
        if user is None:
            raise ChatError("unauthorized", "This account no longer exists.")
        return public_user(user, username)

    # -- rooms -------------------------------------------------------------------
    def all_rooms(self) -> list[dict]:
        return [room_view(room) for room in self.storage.all_rooms()]

    def create_room(self, username: str, request: CreateRoomRequest) -> dict:
        room = {"room_id": secrets.token_urlsafe(9), "name": request.name, "name_key": request.name.lower(),
                "description": request.description, "created_by": username, "created_at": now_iso(),
                "member_count": 0}
        self.storage.create_room(room)
        return room_view(room)

    def _room(self, room_id: str) -> dict:
        # Longer ids were never made (DynamoDB would refuse them as keys anyway).
        if len(room_id.encode("utf-8")) > 80:
            raise not_found("No such room.")
        room = self.storage.room(room_id)
        if room is None:
            raise not_found("No such room.")
        return room

    def room_details(self, room_id: str) -> dict:
        room = room_view(self._room(room_id))
        room["members"] = self.storage.member_names(room_id)
        return room

    @staticmethod
    def _dm_partner(username: str, conversation_id: str) -> str:
        """The other participant of a DM conversation; only its two participants may use it."""
        participants = dm_participants(conversation_id)
        if username.lower() not in participants:
            raise forbidden("This conversation is private.")
        first, second = participants
        return second if first == username.lower() else first

    def _ensure_can_read(self, username: str, conversation_id: str) -> None:
        if dm_participants(conversation_id) is not None:
            self._dm_partner(username, conversation_id)
            return
        self._room(conversation_id)
        if not self.storage.is_member(conversation_id, username):
            raise forbidden("Join the room to read it.")

    def messages(self, username: str, conversation_id: str, query: HistoryQuery) -> tuple[list[dict], bool]:
        self._ensure_can_read(username, conversation_id)
        return self.storage.messages_page(conversation_id, query.before, query.after, query.limit)

    def my_conversations(self, username: str) -> dict:
        rooms, dms = [], []
        for member in self.storage.memberships_of_user(username):
            if dm_participants(member["room_id"]):
                dms.append({"id": member["room_id"], "user": member.get("with", username),
                            "last_message_at": member.get("last_message_at")})
            else:
                room = self.storage.room(member["room_id"])
                if room:
                    rooms.append(room_view(room))
        return {"rooms": rooms, "dms": dms}

    def online_users(self) -> list[str]:
        return self.storage.online_usernames()

    # -- websocket ---------------------------------------------------------------
    def connect(self, connection_id: str, token: str | None) -> str:
        username = auth.username_from_token(token)
        self.storage.put_connection(connection_id, username, now_iso())
        return username

    def disconnect(self, connection_id: str, notifier: Notifier) -> None:
        connection, rooms = self.storage.delete_connection(connection_id)
        if connection is None:
            return
        for room_id in rooms:
            self._announce_if_gone(room_id, connection["username"], notifier)

    def _announce_if_gone(self, room_id: str, username: str, notifier: Notifier) -> None:
        """A user is present in a room while any of their connections has joined it."""
        remaining = self.storage.connections_in_room(room_id)
        if any(item["username"].lower() == username.lower() for item in remaining):
            return
        notifier.broadcast([item["connection_id"] for item in remaining],
                           frames.presence(room_id, username, "left"))

    def _budget(self, connection_id: str, room_id: str | None = None) -> tuple[str, dict, int]:
        """Reads the connection: refuses unknown connections, rooms it has not joined and
        spent budgets; returns the username and the update that counts this frame."""
        config = settings()
        window = int(time.time() // config.ws_rate_window_seconds)
        connection = self._connection(connection_id)
        if room_id is not None and room_id not in connection.get("rooms", ()):
            self._room(room_id)
            raise forbidden("Join the room first.")
        if connection.get("win") == window and connection.get("frames", 0) >= config.ws_rate_limit:
            raise self._rate_limited(window)
        counter = self.storage.frame_counter(connection_id, connection.get("win"), window, config.ws_rate_limit)
        return connection["username"], counter, window

    @staticmethod
    def _rate_limited(window: int) -> ChatError:
        config = settings()
        retry_after = (window + 1) * config.ws_rate_window_seconds - int(time.time())
        return ChatError("rate_limited", f"At most {config.ws_rate_limit} messages every "
                         f"{config.ws_rate_window_seconds} seconds; slow down.", retry_after=max(1, retry_after))

    def _store(self, message: dict, client_key, counter: dict, window: int, **extra) -> dict:
        for _ in range(MAX_ORDER_RETRIES):
            try:
                return self.storage.put_message(message, client_key, counter=counter, **extra)[0]
            except FrameBudgetSpent:
                raise self._rate_limited(window) from None
            except NewerMessageStored as newer:
                message["id"] = message_id(time.time(), after=newer.last_message_id)
        raise ChatError("unavailable", "The conversation is busy; try again.")

    def _connection(self, connection_id: str) -> dict:
        connection = self.storage.connection(connection_id)
        if connection is None:
            raise ChatError("unauthorized", "This connection is not registered; reconnect.")
        return connection

    def _username(self, connection_id: str) -> str:
        return self._connection(connection_id)["username"]

    def handle(self, connection_id: str, frame, notifier: Notifier) -> None:
        handler = {JoinFrame: self.join, LeaveFrame: self.leave, SendFrame: self.send, DmFrame: self.dm,
                   HistoryFrame: self.history, TypingFrame: self.typing, PingFrame: self.ping}[type(frame)]
        handler(connection_id, frame, notifier)

    def ping(self, connection_id: str, frame: PingFrame, notifier: Notifier) -> None:
        notifier.send(connection_id, frames.pong())

    def join(self, connection_id: str, frame: JoinFrame, notifier: Notifier) -> None:
        username = self._username(connection_id)
        if dm_participants(frame.room) is not None:
            self._dm_partner(username, frame.room)
            raise invalid("Direct messages need no join: use history to read them.", {"room": "is a DM"})
        room = self._room(frame.room)
        joined_at = now_iso()
        self.storage.subscribe(connection_id, frame.room, username, joined_at)
        if self.storage.add_member(frame.room, username, joined_at=joined_at):
            room["member_count"] = room.get("member_count", 0) + 1
        if frame.after:
            page = self.storage.messages_page(frame.room, after=frame.after, limit=MAX_HISTORY_PAGE)
        else:
            page = self.storage.messages_page(frame.room)
        messages, more = frames.fit_messages(*page, keep_newest=frame.after is None)
        present = self.storage.connections_in_room(frame.room)
        members = sorted({item["username"] for item in present}, key=str.lower)
        notifier.send(connection_id, frames.joined(room_view(room), messages, more, members))
        notifier.broadcast([item["connection_id"] for item in present if item["connection_id"] != connection_id],
                           frames.presence(frame.room, username, "joined"))

    def leave(self, connection_id: str, frame: LeaveFrame, notifier: Notifier) -> None:
        """Leaving ends the membership, on every device of the user."""
        username = self._username(connection_id)
        self._room(frame.room)
        self.storage.remove_member(frame.room, username)
        present = self.storage.connections_in_room(frame.room)
        mine = [item["connection_id"] for item in present if item["username"].lower() == username.lower()]
        for other_connection in mine:
            self.storage.unsubscribe(other_connection, frame.room)
        notifier.broadcast(dict.fromkeys([connection_id, *mine]), frames.left(frame.room))
        if mine:
            notifier.broadcast([item["connection_id"] for item in present if item["connection_id"] not in mine],
                               frames.presence(frame.room, username, "left"))

    def _new_message(self, room: str, sender: str, text: str, client_id: str | None) -> tuple[dict, str | None]:
        moment = time.time()
        message = {"id": message_id(moment), "room": room, "sender": sender, "text": text,
                   "ts": now_iso(moment), "client_id": client_id}
        client_key = f"client#{room}#{sender.lower()}#{client_id}" if client_id else None
        return message, client_key

    def send(self, connection_id: str, frame: SendFrame, notifier: Notifier) -> None:
        if dm_participants(frame.room) is not None:
            self._direct(connection_id, frame.text, frame.client_id, notifier, conversation=frame.room)
            return
        username, counter, window = self._budget(connection_id, frame.room)
        message, client_key = self._new_message(frame.room, username, frame.text, frame.client_id)
        stored = self._store(message, client_key, counter, window, touch_room=True)
        recipients = self.storage.connections_in_room(frame.room)
        notifier.broadcast([item["connection_id"] for item in recipients], frames.message(stored))

    def dm(self, connection_id: str, frame: DmFrame, notifier: Notifier) -> None:
        self._direct(connection_id, frame.text, frame.client_id, notifier, to=frame.to)

    def _direct(self, connection_id: str, text: str, client_id: str | None, notifier: Notifier,
                to: str | None = None, conversation: str | None = None) -> None:
        """A direct message to `to`, or into the DM `conversation` the sender is part of."""
        username, counter, window = self._budget(connection_id)
        if conversation is not None:
            to = self._dm_partner(username, conversation)
        recipient = self.storage.user_by_username(to)
        if recipient is None:
            raise not_found("No such user.")
        conversation = dm_id(username, recipient["username"])
        message, client_key = self._new_message(conversation, username, text, client_id)
        members = [{"member": username.lower(), "username": username, "with": recipient["username"],
                    "last_message_at": message["ts"]},
                   {"member": recipient["username_key"], "username": recipient["username"], "with": username,
                    "last_message_at": message["ts"]}]
        if members[0]["member"] == members[1]["member"]:
            members = members[:1]
        stored = self._store(message, client_key, counter, window, touch_room=False, dm_members=members)
        recipients = self.storage.connection_ids_of_user(username)
        if recipient["username_key"] != username.lower():
            recipients += self.storage.connection_ids_of_user(recipient["username"])
        notifier.broadcast(recipients, frames.message(stored))

    def history(self, connection_id: str, frame: HistoryFrame, notifier: Notifier) -> None:
        username = self._username(connection_id)
        messages, more = self.messages(username, frame.room, frame)
        messages, more = frames.fit_messages(messages, more, keep_newest=frame.after is None)
        notifier.send(connection_id, frames.history(frame.room, messages, more))

    def typing(self, connection_id: str, frame: TypingFrame, notifier: Notifier) -> None:
        is_dm = dm_participants(frame.room) is not None
        username, counter, window = self._budget(connection_id, None if is_dm else frame.room)
        if not self.storage.count_frame(counter):
            raise self._rate_limited(window)
        if is_dm:
            other = self._dm_partner(username, frame.room)
            notifier.broadcast(self.storage.connection_ids_of_user(other), frames.typing(frame.room, username))
            return
        present = self.storage.connections_in_room(frame.room)
        notifier.broadcast([item["connection_id"] for item in present if item["connection_id"] != connection_id],
                           frames.typing(frame.room, username))
