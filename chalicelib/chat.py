"""The chat rules: who may read and write where, who hears about it, and the words users
read when a rule refuses them. Storage's domain exceptions become API errors here."""
import random
import secrets
import time
from datetime import datetime, timezone

from . import frames
from .auth import Passwords, Tokens
from .config import Budget, LoginLimits
from .conversations import dm_id, dm_participants, is_dm
from .errors import ChatError, forbidden, invalid, not_found
from .ids import message_id
from .models import (MAX_HISTORY_PAGE, CreateRoomRequest, DmFrame, HistoryFrame, HistoryQuery, JoinFrame,
                     LeaveFrame, LoginRequest, PingFrame, RegisterRequest, RoomListQuery, SendFrame, TypingFrame)
from .notifier import Notifier
from .records import Connection, FrameCharge, StoredUser
from .shapes import AuthResult, DmSummary, Message, MyConversations, Room, RoomDetails, User
from .storage import (EmailTaken, FrameBudgetSpent, NewerMessageStored, NoSuchRoom, RoomNameTaken, Storage,
                      UsernameTaken)

# A send commits only as the conversation's very next seq, so every send that overlaps a
# winner tries again (with jittered backoff); a few people typing fast rarely make one send
# lose more than twice. Past the last try the sender gets a retryable `unavailable`.
MAX_ORDER_RETRIES = 10
ORDER_BACKOFF_SECONDS = 0.005
# The per-user budgets and what each counts, in the words a refusal uses.
BUDGET_WORDS = {"message": "messages", "typing": "typing notices", "room": "joins, leaves and history requests",
                "create_room": "new rooms", "register": "new accounts from one address"}
# Longer room ids were never made (DynamoDB would refuse them as keys anyway).
MAX_ROOM_ID_BYTES = 80


def now_iso(seconds: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def public_user(user: StoredUser, viewer: str | None = None) -> User:
    if viewer is not None and viewer.lower() == user.username.lower():
        return User(username=user.username, email=user.email, created_at=user.created_at)
    return User(username=user.username, created_at=user.created_at)


def no_such_room() -> ChatError:
    return not_found("No such room.")


class ChatService:
    def __init__(self, storage: Storage, passwords: Passwords, tokens: Tokens, budgets: dict[str, Budget],
                 login_limits: LoginLimits, max_connections_per_user: int = 10):
        """`budgets`: what one user may do per window, by kind (see BUDGET_WORDS)."""
        self.storage = storage
        self.passwords = passwords
        self.tokens = tokens
        self.budgets = budgets
        self.login_limits = login_limits
        self.max_connections_per_user = max_connections_per_user

    # -- accounts ----------------------------------------------------------------
    def register(self, request: RegisterRequest, source_ip: str) -> AuthResult:
        self._count("register", source_ip)
        user = StoredUser(username=request.username, email=request.email,
                          password_hash=self.passwords.hash(request.password), created_at=now_iso())
        try:
            self.storage.create_user(user)
        except UsernameTaken:
            raise ChatError("conflict", "That username is taken.", {"username": "is taken"}) from None
        except EmailTaken:
            raise ChatError("conflict", "That email is already registered.",
                            {"email": "is already registered"}) from None
        return self._signed_in(user)

    def _signed_in(self, user: StoredUser) -> AuthResult:
        return AuthResult(token=self.tokens.issue(user.username), user=public_user(user, user.username))

    def login(self, request: LoginRequest, source_ip: str) -> AuthResult:
        """Checks credentials. Failures count per account (its username and its email are one
        account) and address: the guesser's (account, address) pair locks hard; the account
        from anywhere and the address for any account only at much higher ceilings, so the
        owner signing in from elsewhere is not locked out by someone guessing."""
        name = request.username.strip()
        user = self.storage.user_by_email(name) if "@" in name else self.storage.user_by_username(name)
        # Unknown names are throttled like accounts of their own (answers must not tell them apart).
        account = user.username if user else f"?{name}"
        now = time.time()
        budget = self.login_limits.per_pair
        window = budget.window(now)
        if self.login_limits.exceeded(self.storage.failed_logins(account, source_ip, window)):
            raise ChatError("rate_limited", "Too many failed logins; try again later.",
                            retry_after=budget.retry_after(window, now))
        if not self.passwords.matches(request.password, user.password_hash if user else None):
            expires_at = (window + 1) * budget.window_seconds + 60
            self.storage.count_failed_login(account, source_ip, window, expires_at)
            raise ChatError("invalid_credentials", "Wrong username or password.")
        return self._signed_in(user)

    def authenticate(self, token: str | None) -> str:
        """The username a token was issued to; refuses missing, expired or forged tokens."""
        return self.tokens.subject(token)

    def me(self, username: str) -> User:
        user = self.storage.user_by_username(username)
        if user is None:
            raise ChatError("unauthorized", "This account no longer exists.")
        return public_user(user, username)

    # -- rooms -------------------------------------------------------------------
    def rooms_page(self, query: RoomListQuery) -> tuple[list[Room], str | None]:
        return self.storage.rooms_page(query.limit, query.cursor)

    def create_room(self, username: str, request: CreateRoomRequest) -> Room:
        self._count("create_room", username)
        room = Room(id=secrets.token_urlsafe(9), name=request.name, description=request.description,
                    created_by=username, created_at=now_iso(), member_count=0, last_message_at=None)
        try:
            self.storage.create_room(room)
        except RoomNameTaken:
            raise ChatError("conflict", "A room with that name exists.", {"name": "is taken"}) from None
        return room

    def _room(self, room_id: str) -> Room:
        if len(room_id.encode("utf-8")) > MAX_ROOM_ID_BYTES:
            raise no_such_room()
        room = self.storage.room(room_id)
        if room is None:
            raise no_such_room()
        return room

    def room_details(self, room_id: str) -> RoomDetails:
        room = self._room(room_id)
        return RoomDetails(**room.model_dump(), members=self.storage.member_names(room_id))

    @staticmethod
    def _dm_partner(username: str, conversation_id: str) -> str:
        """The other participant of a DM conversation; only its two participants may use it."""
        participants = dm_participants(conversation_id)
        if username.lower() not in participants:
            raise forbidden("This conversation is private.")
        first, second = participants
        return second if first == username.lower() else first

    def _ensure_can_read(self, username: str, conversation_id: str) -> None:
        if is_dm(conversation_id):
            self._dm_partner(username, conversation_id)
            return
        self._room(conversation_id)
        if not self.storage.is_member(conversation_id, username):
            raise forbidden("Join the room to read it.")

    def messages(self, username: str, conversation_id: str, query: HistoryQuery) -> tuple[list[Message], bool]:
        self._ensure_can_read(username, conversation_id)
        return self.storage.messages_page(conversation_id, query.before, query.after, query.limit)

    def my_conversations(self, username: str) -> MyConversations:
        rooms, dms = [], []
        for membership in self.storage.memberships_of_user(username):
            if is_dm(membership.conversation_id):
                dms.append(DmSummary(id=membership.conversation_id, user=membership.partner or username,
                                     last_message_at=membership.last_message_at))
            else:
                room = self.storage.room(membership.conversation_id)
                if room:
                    rooms.append(room)
        return MyConversations(rooms=rooms, dms=dms)

    def online_users(self) -> list[str]:
        return self.storage.online_usernames()

    # -- websocket ---------------------------------------------------------------
    def connect(self, connection_id: str, token: str | None) -> str:
        """Registers a connection; refuses bad tokens and a user's connection past the cap.
        The count reads an index, which lags writes by a moment: connects racing each other
        can pass the cap by as many as race."""
        username = self.authenticate(token)
        if len(self.storage.connection_ids_of_user(username)) >= self.max_connections_per_user:
            raise ChatError("rate_limited", f"At most {self.max_connections_per_user} connections at once; "
                            "close another tab or device.")
        self.storage.put_connection(connection_id, username, now_iso())
        return username

    def disconnect(self, connection_id: str, notifier: Notifier) -> None:
        connection, rooms = self.storage.delete_connection(connection_id)
        if connection is None:
            return
        for room_id in rooms:
            self._announce_if_gone(room_id, connection.username, notifier)

    def _announce_if_gone(self, room_id: str, username: str, notifier: Notifier) -> None:
        """A user is present in a room while any of their connections has joined it."""
        remaining = self.storage.connections_in_room(room_id)
        if any(item.username.lower() == username.lower() for item in remaining):
            return
        notifier.broadcast([item.connection_id for item in remaining], frames.presence(room_id, username, "left"))

    def _joined_connection(self, connection_id: str, room_id: str | None) -> Connection:
        """The sender's connection; refuses unknown connections and rooms it has not joined."""
        connection = self._connection(connection_id)
        if room_id is not None and room_id not in connection.rooms:
            self._room(room_id)
            raise forbidden("Join the room first.")
        return connection

    def _charge(self, kind: str, subject: str) -> FrameCharge:
        """One action of `kind` in its subject's budget: a user's (all their connections
        together) or, for registrations, an address's."""
        budget = self.budgets[kind]
        window = budget.window(time.time())
        return FrameCharge(kind=kind, subject=subject, window=window, limit=budget.limit,
                           expires_at=(window + 1) * budget.window_seconds + 60)

    def _count(self, kind: str, subject: str) -> None:
        """Counts an action on its own; refuses it once the budget is spent."""
        charge = self._charge(kind, subject)
        try:
            self.storage.count_frame(charge)
        except FrameBudgetSpent:
            raise self._rate_limited(charge) from None

    def _rate_limited(self, charge: FrameCharge) -> ChatError:
        budget = self.budgets[charge.kind]
        what = BUDGET_WORDS[charge.kind]
        return ChatError("rate_limited", f"At most {budget.limit} {what} every {budget.window_seconds} seconds; "
                         "slow down.", retry_after=budget.retry_after(charge.window, time.time()))

    def _store(self, message: Message, dm_partner: str | None = None) -> tuple[Message, bool]:
        """Stores a message, counted in the sender's budget; (message, False) for a retry of
        a client_id already stored (the stored message), which is counted too."""
        charge = self._charge("message", message.sender)
        for attempt in range(MAX_ORDER_RETRIES):
            try:
                stored, fresh = self.storage.put_message(message, charge, dm_partner)
            except FrameBudgetSpent:
                raise self._rate_limited(charge) from None
            except NoSuchRoom:
                raise no_such_room() from None
            except NewerMessageStored as newer:
                message = message.model_copy(update={"id": message_id(time.time(), after=newer.last_message_id)})
                # Jittered backoff: senders that lost together do not all come back together.
                time.sleep(random.uniform(0, ORDER_BACKOFF_SECONDS * 2 ** min(attempt, 4)))
                continue
            if not fresh:
                self._count("message", message.sender)
            return stored, fresh
        raise ChatError("unavailable", "The conversation is busy; try again.", retry_after=1)

    def _connection(self, connection_id: str) -> Connection:
        connection = self.storage.connection(connection_id)
        if connection is None:
            raise ChatError("unauthorized", "This connection is not registered; reconnect.")
        return connection

    def _username(self, connection_id: str) -> str:
        return self._connection(connection_id).username

    def handle(self, connection_id: str, frame, notifier: Notifier) -> None:
        handler = {JoinFrame: self.join, LeaveFrame: self.leave, SendFrame: self.send, DmFrame: self.dm,
                   HistoryFrame: self.history, TypingFrame: self.typing, PingFrame: self.ping}[type(frame)]
        handler(connection_id, frame, notifier)

    def ping(self, connection_id: str, frame: PingFrame, notifier: Notifier) -> None:
        notifier.send(connection_id, frames.pong())

    def join(self, connection_id: str, frame: JoinFrame, notifier: Notifier) -> None:
        connection = self._connection(connection_id)
        username = connection.username
        if is_dm(frame.room):
            self._dm_partner(username, frame.room)
            raise invalid("Direct messages need no join: use history to read them.", {"room": "is a DM"})
        room = self._room(frame.room)
        self._count("room", username)
        joined_at = now_iso()
        self.storage.subscribe(connection_id, frame.room, username, joined_at)
        if self.storage.add_member(frame.room, username, joined_at):
            room = room.model_copy(update={"member_count": room.member_count + 1})
        if frame.after:
            page = self.storage.messages_page(frame.room, after=frame.after, limit=MAX_HISTORY_PAGE)
        else:
            page = self.storage.messages_page(frame.room)
        messages, more = frames.fit_messages(*page, keep_newest=frame.after is None)
        present = self.storage.connections_in_room(frame.room)
        members = sorted({item.username for item in present}, key=str.lower)
        notifier.send(connection_id, frames.joined(room, messages, more, members))
        # Presence is announced when it changes: not for a re-join, nor for a second device.
        already_present = frame.room in connection.rooms or any(
            item.username.lower() == username.lower() for item in present if item.connection_id != connection_id)
        if not already_present:
            notifier.broadcast([item.connection_id for item in present if item.connection_id != connection_id],
                               frames.presence(frame.room, username, "joined"))

    def leave(self, connection_id: str, frame: LeaveFrame, notifier: Notifier) -> None:
        """Leaving ends the membership, on every device of the user."""
        username = self._username(connection_id)
        self._room(frame.room)
        self._count("room", username)
        self.storage.remove_member(frame.room, username)
        present = self.storage.connections_in_room(frame.room)
        mine = [item.connection_id for item in present if item.username.lower() == username.lower()]
        for other_connection in mine:
            self.storage.unsubscribe(other_connection, frame.room)
        notifier.broadcast(dict.fromkeys([connection_id, *mine]), frames.left(frame.room))
        if mine:
            notifier.broadcast([item.connection_id for item in present if item.connection_id not in mine],
                               frames.presence(frame.room, username, "left"))

    @staticmethod
    def _new_message(room: str, sender: str, text: str, client_id: str | None) -> Message:
        moment = time.time()
        return Message(id=message_id(moment), room=room, sender=sender, text=text, ts=now_iso(moment),
                       client_id=client_id)

    def send(self, connection_id: str, frame: SendFrame, notifier: Notifier) -> None:
        if is_dm(frame.room):
            self._direct(connection_id, frame.text, frame.client_id, notifier, conversation=frame.room)
            return
        username = self._joined_connection(connection_id, frame.room).username
        stored, fresh = self._store(self._new_message(frame.room, username, frame.text, frame.client_id))
        if not fresh:
            notifier.send(connection_id, frames.message(stored))
            return
        recipients = self.storage.connections_in_room(frame.room)
        notifier.broadcast([item.connection_id for item in recipients], frames.message(stored))

    def dm(self, connection_id: str, frame: DmFrame, notifier: Notifier) -> None:
        self._direct(connection_id, frame.text, frame.client_id, notifier, to=frame.to)

    def _direct(self, connection_id: str, text: str, client_id: str | None, notifier: Notifier,
                to: str | None = None, conversation: str | None = None) -> None:
        """A direct message to `to`, or into the DM `conversation` the sender is part of."""
        username = self._username(connection_id)
        if conversation is not None:
            to = self._dm_partner(username, conversation)
        recipient = self.storage.user_by_username(to)
        if recipient is None:
            raise not_found("No such user.")
        message = self._new_message(dm_id(username, recipient.username), username, text, client_id)
        stored, fresh = self._store(message, dm_partner=recipient.username)
        if not fresh:
            notifier.send(connection_id, frames.message(stored))
            return
        recipients = self.storage.connection_ids_of_user(username)
        if recipient.username.lower() != username.lower():
            recipients += self.storage.connection_ids_of_user(recipient.username)
        notifier.broadcast(recipients, frames.message(stored))

    def history(self, connection_id: str, frame: HistoryFrame, notifier: Notifier) -> None:
        username = self._username(connection_id)
        self._count("room", username)
        messages, more = self.messages(username, frame.room, frame)
        messages, more = frames.fit_messages(messages, more, keep_newest=frame.after is None)
        notifier.send(connection_id, frames.history(frame.room, messages, more))

    def typing(self, connection_id: str, frame: TypingFrame, notifier: Notifier) -> None:
        dm = is_dm(frame.room)
        username = self._joined_connection(connection_id, None if dm else frame.room).username
        self._count("typing", username)
        if dm:
            other = self._dm_partner(username, frame.room)
            notifier.broadcast(self.storage.connection_ids_of_user(other), frames.typing(frame.room, username))
            return
        present = self.storage.connections_in_room(frame.room)
        notifier.broadcast([item.connection_id for item in present if item.connection_id != connection_id],
                           frames.typing(frame.room, username))
