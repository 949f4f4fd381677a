"""Names people cannot tell apart are one name; texts that show nothing are no text."""
import json
import unicodedata

import pytest

from chalicelib.errors import ChatError
from chalicelib.models import CreateRoomRequest, FrameError, parse, parse_frame
from chalicelib.names import DEFAULT_IGNORABLE, is_default_ignorable, renders_blank, room_name_key

# What people type into names and messages that shows nothing at all.
INVISIBLE = ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2800", "\u200b", "\u200d", "\u2060", "\ufeff", "\u034f",
             "\ufe0f", "\U000e0100", "\u00ad", "\u180e", "\u3164\u3164 \u2800"]
# Ordinary content that leans on joiners, combining marks, selectors and tags, and RTL text.
ORDINARY = ["👨\u200d👩\u200d👧", "🏳️\u200d🌈", "❤️", "👍🏽", "e\u0301", "Z\u0335\u0321a\u0336lgo",
            "שלום עולם", "مرحبا بالعالم", "Hello \u200fשלום\u200f",
            "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # the flag of England
            "\u0928\u092e\u0938\u094d\u200d\u0924\u0947", "a\nb"]


def test_default_ignorable_table_is_the_unicode_property():
    regex = pytest.importorskip("regex")
    starts = [start for start, _ in DEFAULT_IGNORABLE]
    assert starts == sorted(starts)
    assert all(end < following for (_, end), following in zip(DEFAULT_IGNORABLE, starts[1:]))
    property_ = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    differing = [hex(code) for code in range(0x110000)
                 if is_default_ignorable(chr(code)) != bool(property_.match(chr(code)))]
    assert differing == []


@pytest.mark.parametrize("first, second", [
    ("Café", unicodedata.normalize("NFD", "Café")),
    ("Straße", "STRASSE"),
    ("ǰ", "J\u030c"),  # case folding decomposes U+01F0; composing again makes them one
    ("Ὀδυσσεύς", "ὈΔΥΣΣΕΎΣ"),
    ("Café", "CAFÉ\u3164"),  # an invisible filler does not make a second name
    ("❤ room", "❤\ufe0f room"),
])
def test_names_people_take_for_one_share_a_key(first, second):
    assert room_name_key(first) == room_name_key(second)


@pytest.mark.parametrize("first, second", [("Cafe", "Café"), ("a b", "ab"), ("I", "ı")])
def test_names_that_look_different_keep_different_keys(first, second):
    assert room_name_key(first) != room_name_key(second)


@pytest.mark.parametrize("text", INVISIBLE + ["", " \t\n", "\x00\x07\x1b"])
def test_invisible_and_control_characters_render_blank(text):
    assert renders_blank(text)


@pytest.mark.parametrize("text", ORDINARY + ["\u0600", "\U0001d159x"])
def test_visible_text_does_not_render_blank(text):
    assert not renders_blank(text)


@pytest.mark.parametrize("name", INVISIBLE)
def test_names_that_render_blank_are_refused(name):
    with pytest.raises(ChatError) as refused:
        parse(CreateRoomRequest, {"name": f" {name} "})
    assert refused.value.code == "invalid_request" and "name" in refused.value.fields


def test_names_are_stored_composed_and_counted_so():
    decomposed = unicodedata.normalize("NFD", "é") * 64  # 128 code points, 64 once composed
    assert parse(CreateRoomRequest, {"name": decomposed}).name == "é" * 64
    assert parse(CreateRoomRequest, {"name": "Cafe\u0301 ❤\ufe0f"}).name == "Café ❤\ufe0f"


@pytest.mark.parametrize("description", ["\u202eevil", "a\u202ab", "x\u2066y\u2069", "bell\x07", "two\nlines",
                                         "line\u2028separator"])
def test_descriptions_refuse_controls_and_bidi_overrides(description):
    with pytest.raises(ChatError) as refused:
        parse(CreateRoomRequest, {"name": "Lobby", "description": description})
    assert refused.value.code == "invalid_request" and "description" in refused.value.fields


@pytest.mark.parametrize("description", [text for text in ORDINARY if "\n" not in text])
def test_descriptions_keep_ordinary_content(description):
    assert parse(CreateRoomRequest, {"name": "Lobby", "description": f" {description} "}).description == description


def test_a_description_that_shows_nothing_is_none():
    assert parse(CreateRoomRequest, {"name": "Lobby", "description": "\u3164\u200b"}).description == ""


@pytest.mark.parametrize("text", INVISIBLE + ["\x00", "\u200b\n\u200b", "\x1b\x07"])
def test_messages_that_show_nothing_are_refused_as_empty(text):
    with pytest.raises(FrameError) as refused:
        parse_frame(json.dumps({"action": "send", "room": "r", "text": text}))
    assert refused.value.fields == {"text": "must not be empty"}


@pytest.mark.parametrize("text", ORDINARY)
def test_messages_keep_ordinary_content(text):
    assert parse_frame(json.dumps({"action": "send", "room": "r", "text": text})).text == text
