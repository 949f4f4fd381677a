"""Every response shape of the REST API and of the messages in frames, defined once.

The handlers answer with these, the WebSocket frames carry the same Message and Room,
and localserver/openapi.py documents them from here.
"""
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from .models import MESSAGE_ID_PATTERN, USERNAME_PATTERN

TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"


class Output(BaseModel):
    model_config = ConfigDict(extra="allow")  # the contract allows new fields

    def dump(self) -> dict:
        """The JSON-ready shape; optional fields never set (a stranger's email) are left out."""
        return self.model_dump(exclude_unset=True)


class User(Output):
    """A user; `email` only when the caller is that user."""
    username: str = Field(pattern=USERNAME_PATTERN)
    email: str | SkipJsonSchema[None] = Field(default=None, description="Only in the caller's own user.",
                                              json_schema_extra=lambda schema: schema.pop("default"))
    created_at: str = Field(pattern=TIMESTAMP)


class AuthResult(Output):
    token: str = Field(description="A JWT (HS256) with `sub` = the username; send it as `Authorization: Bearer`.")
    user: User


class Room(Output):
    id: str
    name: str
    description: str
    created_by: str
    created_at: str = Field(pattern=TIMESTAMP)
    member_count: int = Field(ge=0)
    last_message_at: str | None = Field(pattern=TIMESTAMP)


class RoomDetails(Room):
    members: list[str] = Field(description="The durable members, as registered.")


class Message(Output):
    id: str = Field(pattern=MESSAGE_ID_PATTERN)
    room: str
    sender: str
    text: str
    ts: str = Field(pattern=TIMESTAMP)
    client_id: str | None
    seq: int = Field(default=0, ge=0, description="1, 2, 3… per conversation in commit order, no gaps "
                                                  "(0: stored before sequence numbers existed).")


class DmSummary(Output):
    id: str = Field(pattern=r"^dm:[^:]+:[^:]+$")
    user: str = Field(description="The other participant.")
    last_message_at: str | None = Field(pattern=TIMESTAMP)


class MeResult(Output):
    user: User


class RoomList(Output):
    rooms: list[Room] = Field(description="Oldest first.")
    next_cursor: str | None = Field(description="Extension: pass as `cursor` for the next page; null on the last.")


class MyConversations(Output):
    rooms: list[Room]
    dms: list[DmSummary]


class RoomResult(Output):
    room: Room


class RoomDetailsResult(Output):
    room: RoomDetails


class MessagePage(Output):
    messages: list[Message] = Field(description="Oldest first.")
    more: bool = Field(description="Whether messages lie beyond the page in its direction.")


class OnlineUsers(Output):
    users: list[str]
