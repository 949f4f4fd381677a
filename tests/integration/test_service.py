"""The chat service and storage against moto's DynamoDB."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.errors import ChatError
from chalicelib.models import (CreateRoomRequest, RoomListQuery, DmFrame, HistoryFrame, JoinFrame, LeaveFrame, LoginRequest,
                               PingFrame, RegisterRequest, SendFrame, TypingFrame)


def register(service, name):
    return service.register(RegisterRequest(username=name, email=f"{name}@example.com", password="password1"),
                            "192.0.2.1")


def test_concurrent_registrations_of_one_name_have_exactly_one_winner(service):
    def attempt(index):
        try:
            service.register(RegisterRequest(username="Same" if index % 2 else "same",
                                             email=f"user{index}@example.com", password="password1"), "192.0.2.1")
            return "won"
        except ChatError as error:
            return error.code
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count("won") == 1 and results.count("conflict") == 15


def test_concurrent_registrations_of_one_email_have_exactly_one_winner(service):
    def attempt(index):
        try:
            service.register(RegisterRequest(username=f"user{index}", email="Shared@Example.com",
                                             password="password1"), "192.0.2.1")
            return "won"
        except ChatError as error:
            return error.code
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count("won") == 1


def test_concurrent_room_creation_with_one_name_has_exactly_one_winner(service):
    register(service, "owner")

    def attempt(index):
        try:
            return service.create_room("owner", CreateRoomRequest(name="Lobby" if index % 2 else "LOBBY")).id
        except ChatError as error:
            return error.code
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count("conflict") == 15
    assert len(service.rooms_page(RoomListQuery())[0]) == 1


def test_a_failed_registration_leaves_nothing_behind(service):
    register(service, "alice")
    with pytest.raises(ChatError):
        service.register(RegisterRequest(username="bob", email="alice@example.com", password="password1"), "192.0.2.1")
    assert service.storage.user_by_username("bob") is None
    register(service, "bob")


def test_user_actions_never_scan_and_send_makes_at_most_three_calls(service, notifier, calls):
    """Records the DynamoDB operations of every user action."""
    register(service, "alice")
    register(service, "bob")
    service.login(LoginRequest(username="alice@example.com", password="password1"), "192.0.2.1")
    room = service.create_room("alice", CreateRoomRequest(name="General"))
    service.rooms_page(RoomListQuery())
    service.room_details(room.id)
    for connection, user in (("c-alice", "alice"), ("c-bob", "bob")):
        service.connect(connection, service_token(service, user))
        service.handle(connection, JoinFrame(action="join", room=room.id), notifier)
    service.online_users()
    service.my_conversations("alice")

    before = len(calls)
    service.handle("c-alice", SendFrame(action="send", room=room.id, text="hi", client_id="k"), notifier)
    send_calls = calls[before:]
    assert len(send_calls) <= 3, send_calls
    before = len(calls)
    service.handle("c-alice", SendFrame(action="send", room=room.id, text="hi", client_id="k"), notifier)
    assert len(calls[before:]) <= 3, calls[before:]

    service.handle("c-bob", DmFrame(action="dm", to="alice", text="psst"), notifier)
    service.handle("c-bob", HistoryFrame(action="history", room=room.id), notifier)
    service.handle("c-bob", TypingFrame(action="typing", room=room.id), notifier)
    service.handle("c-bob", PingFrame(action="ping"), notifier)
    service.handle("c-bob", LeaveFrame(action="leave", room=room.id), notifier)
    service.disconnect("c-alice", notifier)
    assert "Scan" not in calls
    assert set(calls) <= {"GetItem", "BatchGetItem", "Query", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
                          "UpdateItem"}


def service_token(service, username):
    return service.tokens.issue(username)


def test_send_call_count_does_not_grow_with_the_room(service, notifier, calls):
    register(service, "alice")
    room = service.create_room("alice", CreateRoomRequest(name="Big"))
    for index in range(150):
        service.storage.put_connection(f"c{index}", f"user{index}", "2026-01-01T00:00:00.000Z")
        service.storage.subscribe(f"c{index}", room.id, f"user{index}", "2026-01-01T00:00:00.000Z")
    service.connect("c-alice", service_token(service, "alice"))
    service.handle("c-alice", JoinFrame(action="join", room=room.id), notifier)
    before = len(calls)
    service.handle("c-alice", SendFrame(action="send", room=room.id, text="to all"), notifier)
    assert calls[before:] == ["GetItem", "TransactWriteItems", "Query"]


def test_disconnect_removes_every_trace_of_the_connection(service, notifier):
    register(service, "alice")
    rooms = [service.create_room("alice", CreateRoomRequest(name=f"R{i}")).id for i in range(3)]
    service.connect("c1", service_token(service, "alice"))
    for room in rooms:
        service.handle("c1", JoinFrame(action="join", room=room), notifier)
    service.disconnect("c1", notifier)
    assert service.storage.connection("c1") is None
    assert all(service.storage.connections_in_room(room) == [] for room in rooms)
    assert service.online_users() == []
    # Membership is durable: the rooms are still the user's after the connection ends.
    assert {r.id for r in service.my_conversations("alice").rooms} == set(rooms)


def test_messages_are_kept_in_order_with_unique_ids(service, notifier):
    register(service, "alice")
    room = service.create_room("alice", CreateRoomRequest(name="Fast")).id
    service.connect("c1", service_token(service, "alice"))
    service.handle("c1", JoinFrame(action="join", room=room), notifier)
    for index in range(30):
        service.handle("c1", SendFrame(action="send", room=room, text=f"m{index}"), notifier)
    messages, more = service.storage.messages_page(room, limit=100)
    assert [m.text for m in messages] == [f"m{i}" for i in range(30)] and not more
    assert len({m.id for m in messages}) == 30
