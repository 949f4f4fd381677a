"""Room names people would take for one name are one name: the second is a conflict."""
import unicodedata

import pytest

from chalicelib.errors import ChatError
from chalicelib.models import CreateRoomRequest, parse


def create(service, name: str):
    return service.create_room("owner", parse(CreateRoomRequest, {"name": name}))


@pytest.mark.parametrize("first, second", [
    ("Café", unicodedata.normalize("NFD", "Café")),
    (unicodedata.normalize("NFD", "Café"), "CAFÉ"),
    ("Straße", "STRASSE"),
    ("Lobby", "lobby\u3164"),
    ("Ὀδυσσεύς", "ὈΔΥΣΣΕΎΣ"),
])
def test_a_name_people_cannot_tell_from_a_taken_one_is_a_conflict(service, first, second):
    create(service, first)
    with pytest.raises(ChatError) as refused:
        create(service, second)
    assert refused.value.code == "conflict" and refused.value.fields == {"name": "is taken"}


def test_names_are_stored_and_shown_composed(service):
    room = create(service, unicodedata.normalize("NFD", "Café Crème"))
    assert room.name == "Café Crème" == service.room_details(room.id).name


def test_names_that_only_look_alike_to_a_careless_eye_are_two_rooms(service):
    assert create(service, "Cafe").id != create(service, "Café").id
