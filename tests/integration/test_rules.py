"""The chat rules, where they live: ChatService over moto in process, frames read back from
moto's management API. Who may read, send and leave; idempotent retries; commit order and
resume; presence; the frame budget and the login lockout. The e2e suites prove the wiring."""
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.config import Budget, LoginLimits
from chalicelib.errors import ChatError
from chalicelib.models import (CreateRoomRequest, DmFrame, HistoryFrame, HistoryQuery, JoinFrame, LeaveFrame,
                               LoginRequest, RegisterRequest, RoomListQuery, SendFrame, TypingFrame)
from chalicelib.runtime import Runtime


class Chat:
    """People registered, connected and joined through the service, as a client would."""

    def __init__(self, service, notifier, inbox):
        self.service, self.notifier, self.inbox = service, notifier, inbox
        self.room = None

    def person(self, name: str) -> str:
        self.service.register(RegisterRequest(username=name, email=f"{name}@example.com", password="password1"), "192.0.2.1")
        return name

    def connect(self, name: str, connection_id: str | None = None) -> str:
        connection_id = connection_id or f"c-{name}"
        self.service.connect(connection_id, self.service.tokens.issue(name))
        return connection_id

    def new_room(self, owner: str, name: str = "General") -> str:
        return self.service.create_room(owner, CreateRoomRequest(name=name)).id

    def do(self, connection_id: str, frame) -> None:
        self.service.handle(connection_id, frame, self.notifier)

    def refused(self, connection_id: str, frame) -> ChatError:
        return self.refused_call(self.do, connection_id, frame)

    @staticmethod
    def refused_call(function, *args) -> ChatError:
        with pytest.raises(ChatError) as refusal:
            function(*args)
        return refusal.value

    def join(self, connection_id: str, room: str, after: str | None = None) -> dict:
        self.do(connection_id, JoinFrame(action="join", room=room, after=after))
        return self.inbox.take(connection_id, "joined")[-1]

    def send(self, connection_id: str, room: str, text: str, client_id: str | None = None) -> None:
        self.do(connection_id, SendFrame(action="send", room=room, text=text, client_id=client_id))

    def texts(self, room: str) -> list[str]:
        return [message.text for message in self.service.storage.messages_page(room, limit=100)[0]]


@pytest.fixture
def chat(service, notifier, inbox):
    return Chat(service, notifier, inbox)


@pytest.fixture
def room_of_two(chat):
    """alice and bob, each connected and joined to one room; their inboxes emptied."""
    chat.person("alice"), chat.person("bob")
    room = chat.new_room("alice")
    for name in ("alice", "bob"):
        chat.join(chat.connect(name), room)
    for name in ("alice", "bob"):
        chat.inbox.take(f"c-{name}")
    return room


# -- the room list ---------------------------------------------------------------------
def test_the_room_list_comes_in_pages_oldest_first(chat):
    chat.person("alice")
    made = [chat.new_room("alice", f"Room {index}") for index in range(5)]
    seen, cursor = [], None
    while True:
        rooms, cursor = chat.service.rooms_page(RoomListQuery(limit=2, cursor=cursor))
        assert len(rooms) <= 2
        seen += rooms
        if cursor is None:
            break
    assert sorted(room.id for room in seen) == sorted(made) and len(seen) == 5
    assert [room.created_at for room in seen] == sorted(room.created_at for room in seen)


def test_a_cursor_past_the_last_room_gives_an_empty_last_page(chat):
    chat.person("alice")
    chat.new_room("alice")
    assert chat.service.rooms_page(RoomListQuery(cursor="9999-12-31T23:59:59.999Z~zzz")) == ([], None)


# -- who may read ----------------------------------------------------------------------
def test_only_members_read_a_rooms_history(chat, room_of_two):
    chat.send("c-alice", room_of_two, "for members")
    chat.person("mallory")
    page = HistoryQuery()
    assert [m.text for m in chat.service.messages("bob", room_of_two, page)[0]] == ["for members"]
    refusal = pytest.raises(ChatError, chat.service.messages, "mallory", room_of_two, page).value
    assert refusal.code == "forbidden"
    mallory = chat.connect("mallory")
    assert chat.refused(mallory, HistoryFrame(action="history", room=room_of_two)).code == "forbidden"
    assert chat.inbox.take(mallory) == []


def test_unknown_and_oversized_room_ids_are_not_found(chat):
    chat.person("alice")
    for room in ("nope", "x" * 81):
        refusal = pytest.raises(ChatError, chat.service.messages, "alice", room, HistoryQuery()).value
        assert refusal.code == "not_found"


def test_a_dm_is_read_by_its_two_participants_only(chat):
    for name in ("alice", "bob", "mallory"):
        chat.person(name)
    alice = chat.connect("alice")
    chat.do(alice, DmFrame(action="dm", to="Bob", text="psst"))
    for reader in ("alice", "BOB"):
        assert [m.text for m in chat.service.messages(reader, "dm:alice:bob", HistoryQuery())[0]] == ["psst"]
    refusal = pytest.raises(ChatError, chat.service.messages, "mallory", "dm:alice:bob", HistoryQuery()).value
    assert refusal.code == "forbidden"


def test_a_dm_id_cannot_be_joined(chat):
    for name in ("alice", "bob", "mallory"):
        chat.person(name)
    assert chat.refused(chat.connect("alice"), JoinFrame(action="join", room="dm:alice:bob")).code == \
        "invalid_request"
    assert chat.refused(chat.connect("mallory"), JoinFrame(action="join", room="dm:alice:bob")).code == "forbidden"


# -- who may send ----------------------------------------------------------------------
def test_sending_needs_a_joined_room_and_a_registered_connection(chat, room_of_two):
    chat.person("carol")
    carol = chat.connect("carol")
    assert chat.refused(carol, SendFrame(action="send", room=room_of_two, text="hi")).code == "forbidden"
    assert chat.refused(carol, SendFrame(action="send", room="nope", text="hi")).code == "not_found"
    assert chat.refused("never-connected", SendFrame(action="send", room=room_of_two, text="hi")).code == \
        "unauthorized"
    assert chat.texts(room_of_two) == []


def test_a_send_into_a_dm_id_is_a_dm_for_participants_only(chat):
    for name in ("alice", "bob", "mallory"):
        chat.person(name)
    alice, bob, mallory = (chat.connect(name) for name in ("alice", "bob", "mallory"))
    chat.send(alice, "dm:alice:bob", "via send")
    assert [f["message"]["text"] for f in chat.inbox.take(bob, "message")] == ["via send"]
    assert chat.refused(mallory, SendFrame(action="send", room="dm:alice:bob", text="intrude")).code == "forbidden"
    assert chat.texts("dm:alice:bob") == ["via send"]
    assert chat.inbox.take(bob) == []


def test_a_dm_to_nobody_is_not_found_and_stores_nothing(chat):
    chat.person("alice")
    assert chat.refused(chat.connect("alice"), DmFrame(action="dm", to="ghost", text="hi")).code == "not_found"
    assert chat.texts("dm:alice:ghost") == []


# -- leaving ---------------------------------------------------------------------------
def test_leaving_ends_the_membership_on_every_device(chat, room_of_two):
    phone = chat.connect("alice", "c-alice-phone")
    chat.join(phone, room_of_two)
    chat.inbox.take("c-bob")
    chat.do("c-alice", LeaveFrame(action="leave", room=room_of_two))
    for connection in ("c-alice", phone):
        assert chat.inbox.take(connection, "left") == [{"type": "left", "room": room_of_two}]
    assert chat.inbox.take("c-bob", "presence") == [
        {"type": "presence", "room": room_of_two, "user": "alice", "status": "left"}]
    assert chat.refused(phone, SendFrame(action="send", room=room_of_two, text="still?")).code == "forbidden"
    refusal = pytest.raises(ChatError, chat.service.messages, "alice", room_of_two, HistoryQuery()).value
    assert refusal.code == "forbidden"
    assert chat.service.room_details(room_of_two).members == ["bob"]


# -- idempotent retries ----------------------------------------------------------------
def test_a_retried_client_id_is_stored_once_and_answered_with_the_stored_message(chat, room_of_two):
    chat.send("c-alice", room_of_two, "once", client_id="k1")
    first = chat.inbox.take("c-bob", "message")
    chat.send("c-alice", room_of_two, "once (retry)", client_id="k1")
    retry = chat.inbox.take("c-alice", "message")
    assert chat.texts(room_of_two) == ["once"]
    assert retry[-1]["message"] == first[0]["message"]


def test_client_ids_are_per_sender_and_per_conversation(chat, room_of_two):
    other = chat.new_room("alice", "Other")
    chat.join("c-alice", other)
    chat.send("c-alice", room_of_two, "a", client_id="same")
    chat.send("c-bob", room_of_two, "b", client_id="same")
    chat.send("c-alice", other, "c", client_id="same")
    assert chat.texts(room_of_two) == ["a", "b"] and chat.texts(other) == ["c"]


# -- order and resume ------------------------------------------------------------------
def test_join_after_returns_exactly_the_messages_after_it_in_order(chat, room_of_two):
    for index in range(8):
        chat.send("c-alice", room_of_two, f"m{index}")
    stored = chat.service.storage.messages_page(room_of_two, limit=100)[0]
    for cut in (0, 3, 7):
        joined = chat.join("c-bob", room_of_two, after=stored[cut].id)
        assert [m["text"] for m in joined["messages"]] == [f"m{i}" for i in range(cut + 1, 8)]
        assert joined["more"] is False


def test_concurrent_senders_in_several_containers_commit_gap_free_in_order(runtime, chat, room_of_two):
    """Three Lambda containers (each its own service: its own seq hints and locks) take
    overlapping sends, six at a time with no pause. Every send commits as the next seq or
    tries again; one that keeps losing is answered `unavailable`, which the sender retries
    with the same client_id, as the web client does. So seq runs 1..n without gaps, in id
    order, each message once."""
    chat.person("carol")
    chat.join(chat.connect("carol"), room_of_two)
    containers = [Runtime(runtime.settings).chat for _ in range(3)]
    senders = ["c-alice", "c-bob", "c-carol"]
    refusals = []

    def send(index):
        frame = SendFrame(action="send", room=room_of_two, text=f"m{index}", client_id=f"k{index}")
        while True:
            try:
                return containers[index % 3].handle(senders[index % 3], frame, chat.notifier)
            except ChatError as error:
                assert error.code == "unavailable" and error.retry_after
                refusals.append(error)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, range(36)))
    assert len(refusals) < 36  # the retries inside the service absorb nearly every lost race
    stored = chat.service.storage.messages_page(room_of_two, limit=100)[0]
    assert sorted(m.text for m in stored) == sorted(f"m{i}" for i in range(36))
    assert [m.seq for m in stored] == list(range(1, 37))
    assert [m.id for m in stored] == sorted(m.id for m in stored)
    # Every member got every message (a sender's retry after `unavailable` may re-send its own
    # stored message to itself only).
    for connection in ("c-alice", "c-bob", "c-carol"):
        seqs = [frame["message"]["seq"] for frame in chat.inbox.take(connection, "message")]
        assert sorted(set(seqs)) == list(range(1, 37))


def test_a_retried_client_id_goes_back_to_the_sender_only(chat, room_of_two):
    chat.send("c-alice", room_of_two, "hello", client_id="k")
    first = chat.inbox.take("c-alice", "message")
    assert chat.inbox.take("c-bob", "message")[0]["message"]["seq"] == 1
    for _ in range(3):
        chat.send("c-alice", room_of_two, "hello", client_id="k")
    assert [frame["message"] for frame in chat.inbox.take("c-alice", "message")] == [first[0]["message"]] * 3
    assert chat.inbox.take("c-bob") == []


def test_seq_counts_per_conversation_and_dms_have_their_own(chat, room_of_two):
    other = chat.new_room("alice", "Other")
    chat.join("c-alice", other)
    for text in ("a", "b"):
        chat.send("c-alice", room_of_two, text)
    chat.send("c-alice", other, "c")
    chat.do("c-alice", DmFrame(action="dm", to="bob", text="d1"))
    chat.do("c-bob", DmFrame(action="dm", to="alice", text="d2"))
    seqs = {room: [m.seq for m in chat.service.storage.messages_page(room)[0]]
            for room in (room_of_two, other, "dm:alice:bob")}
    assert seqs == {room_of_two: [1, 2], other: [1], "dm:alice:bob": [1, 2]}


# -- presence --------------------------------------------------------------------------
def test_join_announces_presence_to_the_others_only(chat, room_of_two):
    chat.person("carol")
    joined = chat.join(chat.connect("carol"), room_of_two)
    assert joined["members"] == ["alice", "bob", "carol"]
    for name in ("alice", "bob"):
        assert chat.inbox.take(f"c-{name}", "presence") == [
            {"type": "presence", "room": room_of_two, "user": "carol", "status": "joined"}]
    assert chat.inbox.take("c-carol", "presence") == []


def test_presence_lasts_while_any_connection_of_the_user_is_in_the_room(chat, room_of_two):
    phone = chat.connect("alice", "c-alice-phone")
    chat.join(phone, room_of_two)
    chat.inbox.take("c-bob")
    chat.service.disconnect(phone, chat.notifier)
    assert chat.inbox.take("c-bob", "presence") == []
    chat.service.disconnect("c-alice", chat.notifier)
    assert chat.inbox.take("c-bob", "presence") == [
        {"type": "presence", "room": room_of_two, "user": "alice", "status": "left"}]


def test_typing_reaches_the_others_in_the_room_or_the_dm_partner(chat, room_of_two):
    chat.do("c-alice", TypingFrame(action="typing", room=room_of_two))
    assert chat.inbox.take("c-bob", "typing") == [{"type": "typing", "room": room_of_two, "user": "alice"}]
    assert chat.inbox.take("c-alice", "typing") == []
    chat.do("c-alice", TypingFrame(action="typing", room="dm:alice:bob"))
    assert chat.inbox.take("c-bob", "typing") == [{"type": "typing", "room": "dm:alice:bob", "user": "alice"}]


# -- budgets ---------------------------------------------------------------------------
@pytest.fixture
def strict(runtime):
    """The same tables under a service whose limits are low: 3 messages, 2 typing notices,
    4 room actions per user; 2 new rooms per user and 4 accounts per address an hour; 2 failed logins per account and address, 5 per account, 4 per address."""
    settings = dataclasses.replace(runtime.settings, frame_budget=Budget(limit=3, window_seconds=60),
                                   typing_budget=Budget(limit=2, window_seconds=60),
                                   room_budget=Budget(limit=4, window_seconds=60),
                                   create_room_budget=Budget(limit=2, window_seconds=3600),
                                   register_budget=Budget(limit=4, window_seconds=3600),
                                   max_connections_per_user=3,
                                   login_limits=LoginLimits(per_pair=Budget(limit=2, window_seconds=900),
                                                            per_account=5, per_address=4))
    return Runtime(settings)


@pytest.fixture
def strict_chat(strict, notifier, inbox):
    chat = Chat(strict.chat, notifier, inbox)
    chat.person("alice"), chat.person("bob")
    chat.room = chat.new_room("alice")
    chat.join(chat.connect("alice"), chat.room)
    chat.join(chat.connect("alice", "c-alice-phone"), chat.room)
    chat.join(chat.connect("bob"), chat.room)
    return chat


def test_the_message_budget_is_per_user_over_all_connections(strict_chat):
    chat, room = strict_chat, strict_chat.room
    chat.send("c-alice", room, "one")
    chat.send("c-alice-phone", room, "two", client_id="k2")
    chat.send("c-alice", room, "three")
    for device in ("c-alice", "c-alice-phone"):
        refusal = chat.refused(device, SendFrame(action="send", room=room, text="four"))
        assert refusal.code == "rate_limited" and 1 <= refusal.retry_after <= 60
    assert chat.refused("c-alice", DmFrame(action="dm", to="bob", text="dm")).code == "rate_limited"
    # A retry of a stored client_id stores nothing new, but it is a frame like any other.
    assert chat.refused("c-alice-phone", SendFrame(action="send", room=room, text="two", client_id="k2")).code \
        == "rate_limited"
    chat.send("c-bob", room, "bob is not limited")
    assert chat.texts(room) == ["one", "two", "three", "bob is not limited"]


def test_typing_has_a_budget_of_its_own(strict_chat):
    chat, room = strict_chat, strict_chat.room
    for _ in range(2):
        chat.do("c-alice", TypingFrame(action="typing", room=room))
    assert chat.refused("c-alice-phone", TypingFrame(action="typing", room=room)).code == "rate_limited"
    chat.send("c-alice", room, "typing spent, messages not")
    assert chat.texts(room) == ["typing spent, messages not"]


def test_joins_and_history_requests_are_counted(strict_chat):
    chat, room = strict_chat, strict_chat.room  # alice used 2 of her 4 room actions joining
    chat.do("c-alice", HistoryFrame(action="history", room=room))
    chat.join("c-alice", room)
    assert chat.refused("c-alice-phone", HistoryFrame(action="history", room=room)).code == "rate_limited"
    assert chat.refused("c-alice", JoinFrame(action="join", room=room)).code == "rate_limited"


def test_concurrent_frames_never_exceed_the_budget(strict, notifier, inbox):
    chat = Chat(strict.chat, notifier, inbox)
    chat.person("alice")
    room = chat.new_room("alice")
    devices = [chat.connect("alice", f"c-alice-{index}") for index in range(3)]
    for device in devices:
        chat.do(device, JoinFrame(action="join", room=room))

    def send(index):
        try:
            chat.send(devices[index % 3], room, f"m{index}")
            return "sent"
        except ChatError as error:
            return error.code
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(12)))
    assert results.count("sent") == 3 and results.count("rate_limited") == 9
    assert len(chat.texts(room)) == 3


def test_a_user_may_hold_a_limited_number_of_connections(strict_chat):
    chat = strict_chat  # alice has two connections
    chat.connect("alice", "c-alice-3")
    refusal = chat.refused_call(chat.connect, "alice", "c-alice-4")
    assert refusal.code == "rate_limited" and refusal.status == 429
    assert chat.service.storage.connection("c-alice-4") is None
    chat.service.disconnect("c-alice-3", chat.notifier)
    chat.connect("alice", "c-alice-4")
    chat.connect("bob", "c-bob-2")


def test_new_rooms_are_limited_per_user(strict_chat):
    chat = strict_chat  # alice made one room already
    chat.new_room("alice", "Second")
    refusal = chat.refused_call(chat.service.create_room, "alice", CreateRoomRequest(name="Third"))
    assert refusal.code == "rate_limited" and 1 <= refusal.retry_after <= 3600
    assert chat.new_room("bob", "Bob's")


def test_new_accounts_are_limited_per_address(strict):
    service = strict.chat
    for name in ("one", "two", "three", "four"):
        service.register(RegisterRequest(username=name, email=f"{name}@example.com", password="password1"),
                         "203.0.113.6")
    refusal = pytest.raises(ChatError, service.register, RegisterRequest(
        username="five", email="five@example.com", password="password1"), "203.0.113.6").value
    assert refusal.code == "rate_limited" and refusal.retry_after >= 1
    assert service.storage.user_by_username("five") is None
    service.register(RegisterRequest(username="six", email="six@example.com", password="password1"), "198.51.100.1")


def _login(service, name, password, address):
    try:
        return service.login(LoginRequest(username=name, password=password), address).user.username
    except ChatError as error:
        return error.code


def test_a_guesser_locks_only_their_own_address_out_of_the_account(strict):
    """OWASP ASVS 2.2.1: brute force stays bounded without locking the owner out."""
    service = strict.chat
    service.register(RegisterRequest(username="alice", email="alice@example.com", password="password1"), "192.0.2.1")
    assert [_login(service, "alice", "wrong", "203.0.113.6") for _ in range(3)] == [
        "invalid_credentials", "invalid_credentials", "rate_limited"]
    # Before any password is checked: the right one is refused too, from the guesser's address.
    assert _login(service, "alice", "password1", "203.0.113.6") == "rate_limited"
    assert _login(service, "alice", "password1", "198.51.100.1") == "alice"


def test_username_and_email_are_one_account_to_the_counters(strict):
    service = strict.chat
    service.register(RegisterRequest(username="alice", email="alice@example.com", password="password1"), "192.0.2.1")
    assert _login(service, "alice", "wrong", "203.0.113.6") == "invalid_credentials"
    assert _login(service, "ALICE@example.com", "wrong", "203.0.113.6") == "invalid_credentials"
    assert _login(service, "alice@example.com", "password1", "203.0.113.6") == "rate_limited"


def test_the_account_ceiling_bounds_a_distributed_guesser(strict):
    service = strict.chat
    service.register(RegisterRequest(username="alice", email="alice@example.com", password="password1"), "192.0.2.1")
    results = [_login(service, "alice", "wrong", f"203.0.113.{index}") for index in range(6)]
    assert results == ["invalid_credentials"] * 5 + ["rate_limited"]
    assert _login(service, "alice", "password1", "198.51.100.1") == "rate_limited"


def test_the_address_ceiling_bounds_guessing_across_accounts(strict):
    service = strict.chat
    results = [_login(service, f"user{index}", "wrong", "203.0.113.6") for index in range(5)]
    assert results == ["invalid_credentials"] * 4 + ["rate_limited"]
    service.register(RegisterRequest(username="bob", email="bob@example.com", password="password1"), "192.0.2.1")
    assert _login(service, "bob", "password1", "198.51.100.1") == "bob"
