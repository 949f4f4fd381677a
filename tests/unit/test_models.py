import json

import pytest

from chalicelib.errors import ChatError
from chalicelib.models import (CreateRoomRequest, DmFrame, FrameError, HistoryFrame, RegisterRequest, SendFrame,
                               parse, parse_frame)


def register(**fields):
    return parse(RegisterRequest, {"username": "alice", "email": "a@example.com", "password": "12345678",
                                   **fields})


@pytest.mark.parametrize("username", ["abc", "A.b-c_9", "x" * 32])
def test_usernames_that_are_allowed(username):
    assert register(username=username).username == username


@pytest.mark.parametrize("username", ["ab", "x" * 33, "has space", "émile", "semi;colon", "", 123, None])
def test_usernames_that_are_refused(username):
    with pytest.raises(ChatError) as refused:
        register(username=username)
    assert refused.value.code == "invalid_request" and "username" in refused.value.fields


def test_password_limits_count_bytes_not_characters():
    assert register(password="ü" * 36).password == "ü" * 36  # 72 bytes
    for password in ("ü" * 37, "1234567", "x" * 73):
        with pytest.raises(ChatError) as refused:
            register(password=password)
        assert "password" in refused.value.fields


def test_room_names_are_trimmed_and_printable():
    assert parse(CreateRoomRequest, {"name": "  Lobby  "}).name == "Lobby"
    assert parse(CreateRoomRequest, {"name": "x" * 64}).description == ""
    for name in ("", "   ", "x" * 65, "tab\there", "new\nline"):
        with pytest.raises(ChatError):
            parse(CreateRoomRequest, {"name": name})


def test_frames_are_parsed_by_action():
    frame = parse_frame(json.dumps({"action": "send", "room": "r1", "text": " hi ", "client_id": "c"}))
    assert isinstance(frame, SendFrame) and frame.text == "hi"
    assert isinstance(parse_frame('{"action": "dm", "to": "bob", "text": "x"}'), DmFrame)
    assert parse_frame('{"action": "history", "room": "r"}').limit == 50
    assert isinstance(parse_frame('{"action": "history", "room": "r", "extra": 1}'), HistoryFrame)


@pytest.mark.parametrize("raw, action, client_id", [
    (b"\xff", None, None),
    ("{}", None, None),
    ('{"action": ["send"]}', None, None),
    ('{"action": "send", "room": "r", "text": "", "client_id": "c7"}', "send", "c7"),
    ('{"action": "send", "room": "r", "text": "x", "client_id": 7}', "send", None),
    ('{"action": "history", "room": "r", "limit": true}', "history", None),
])
def test_bad_frames_name_what_the_error_frame_echoes(raw, action, client_id):
    with pytest.raises(FrameError) as refused:
        parse_frame(raw)
    assert refused.value.code == "invalid_request"
    assert (refused.value.action, refused.value.client_id) == (action, client_id)


def test_text_limit_is_4000_characters_after_trimming():
    assert len(parse_frame(json.dumps({"action": "send", "room": "r", "text": " " + "é" * 4000 + " "})).text) == 4000
    with pytest.raises(FrameError) as refused:
        parse_frame(json.dumps({"action": "send", "room": "r", "text": "x" * 4001}))
    assert "text" in refused.value.fields


def test_message_ids_increase_even_within_one_millisecond():
    from chalicelib.ids import message_id
    from chalicelib.models import MESSAGE_ID_PATTERN
    import re
    ids = [message_id(1_700_000_000.123) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert all(re.fullmatch(MESSAGE_ID_PATTERN, value) for value in ids)
    assert message_id(1_700_000_001.0) > ids[-1]


def test_a_message_id_can_be_made_after_a_given_one():
    from chalicelib.ids import message_id
    future = message_id(4_000_000_000.0)
    assert message_id(1_700_000_000.0, after=future) > future


@pytest.mark.parametrize("cursor", ["x", "2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05.678Z~", "~abc",
                                    "2026-01-02T03:04:05.678Z~a/b", "2026-01-02T03:04:05Z~abc"])
def test_a_room_list_cursor_must_have_the_shape_the_server_makes(cursor):
    from chalicelib.models import RoomListQuery
    with pytest.raises(ChatError) as refused:
        parse(RoomListQuery, {"cursor": cursor})
    assert refused.value.fields == {"cursor": refused.value.fields["cursor"]}
