"""Every input the API accepts, defined once, and the conversion of validation failures."""
import json
import re
import unicodedata
from typing import Annotated, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints,
                      TypeAdapter, ValidationError, ValidationInfo, field_validator)

from .errors import ChatError, invalid
from .names import BIDI_CONTROLS, renders_blank

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"
MAX_TEXT = 4000
MAX_ROOM_NAME = 64
MAX_DESCRIPTION = 500
# The longest email RFC 5321 allows is 254; a little room for what people paste.
MAX_LOGIN_NAME = 320
HISTORY_PAGE = 50
MAX_HISTORY_PAGE = 100
MAX_ROOM_PAGE = 100
# A room-list cursor: the last room's created_at and id (not a secret: where the page ended).
ROOM_CURSOR_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z~[A-Za-z0-9_-]{1,80}$"
# Message ids are ULIDs: Crockford base32, 26 characters, sorting in time order.
MESSAGE_ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"


def _printable_name(value: str) -> str:
    # Stored and shown composed, so that one name has one spelling (and one length).
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_ROOM_NAME:
        raise ValueError(f"must be at most {MAX_ROOM_NAME} characters")
    if not value.isprintable():
        raise ValueError("must contain printable characters only")
    if renders_blank(value):
        raise ValueError("must contain visible characters")
    return value


def _description(value: str) -> str:
    value = value.strip()
    if len(value) > MAX_DESCRIPTION:
        raise ValueError(f"must be at most {MAX_DESCRIPTION} characters")
    # Shown on one line beside the name: line breaks and controls have no place there, and
    # bidi overrides would reorder the room list around it.
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value):
        raise ValueError("must not contain control characters or line breaks")
    if any(char in BIDI_CONTROLS for char in value):
        raise ValueError("must not contain bidirectional override or isolate characters")
    # A description nobody can see is no description.
    return "" if renders_blank(value) else value


def is_username(value: str) -> bool:
    return re.fullmatch(USERNAME_PATTERN, value) is not None


def _username(value: str) -> str:
    if not is_username(value):
        raise ValueError("must be 3-32 characters: letters, digits, '_', '.' or '-'")
    return value


def _message_text(value: str) -> str:
    value = value.strip()
    if renders_blank(value):
        raise ValueError("must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    return value


def _login_name(value: str) -> str:
    # Trimmed as the login itself trims: a blank name would become an empty key, which
    # DynamoDB refuses outright.
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_LOGIN_NAME:
        raise ValueError(f"must be at most {MAX_LOGIN_NAME} characters")
    return value


def _message_id(value: str) -> str:
    if not re.fullmatch(MESSAGE_ID_PATTERN, value):
        raise ValueError("must be a message id")
    return value


def _password(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size < 8:
        raise ValueError("must be at least 8 bytes")
    if size > 72:
        # bcrypt only reads 72 bytes; refusing beats silently ignoring the rest.
        raise ValueError("must be at most 72 bytes")
    return value


def is_text(value: str) -> bool:
    """False for strings holding lone surrogates, which JSON can escape ("\ud800") but which are
    not Unicode text: they could be neither stored nor sent back."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unicode_text(value: str) -> str:
    if not is_text(value):
        raise ValueError("must be valid Unicode text")
    return value


def text_type(*validators, **constraints):
    """A strict string field that must be Unicode text, with extra constraints and validators."""
    return Annotated[str, StringConstraints(strict=True, **constraints), AfterValidator(_unicode_text),
                     *map(AfterValidator, validators)]


Username = text_type(_username)
RoomName = text_type(_printable_name)
Description = text_type(_description)
Text = text_type(_message_text)
Password = text_type(_password)
MessageId = text_type(_message_id)
ConversationId = text_type(min_length=1, max_length=80)
ClientId = text_type(min_length=1, max_length=128)
Limit = Annotated[int, Field(strict=True, ge=1, le=MAX_HISTORY_PAGE)]


class Input(BaseModel):
    # Unknown fields are ignored so that newer clients keep working.
    model_config = ConfigDict(extra="ignore", str_max_length=20_000)


class RegisterRequest(Input):
    username: Username
    email: EmailStr
    password: Password


class LoginRequest(Input):
    username: text_type(_login_name)
    password: text_type(min_length=1, max_length=1024)


class CreateRoomRequest(Input):
    name: RoomName
    description: Description = ""


class RoomListQuery(Input):
    limit: Annotated[int, Field(strict=True, ge=1, le=MAX_ROOM_PAGE)] = MAX_ROOM_PAGE
    cursor: text_type(pattern=ROOM_CURSOR_PATTERN) | None = None


class HistoryQuery(Input):
    before: MessageId | None = None
    after: MessageId | None = None
    limit: Limit = HISTORY_PAGE

    @field_validator("after")
    @classmethod
    def _after_precedes_before(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Both cursors make a BETWEEN, which DynamoDB refuses when its bounds are reversed;
        # equal bounds hold nothing between them. Either is a client's mistake to be told of.
        before = info.data.get("before")
        if value is not None and before is not None and value >= before:
            raise ValueError("must be an earlier message id than before")
        return value


class JoinFrame(Input):
    action: Literal["join"]
    room: ConversationId
    after: MessageId | None = None


class LeaveFrame(Input):
    action: Literal["leave"]
    room: ConversationId


class SendFrame(Input):
    action: Literal["send"]
    room: ConversationId
    text: Text
    client_id: ClientId | None = None


class DmFrame(Input):
    action: Literal["dm"]
    to: Username
    text: Text
    client_id: ClientId | None = None


class HistoryFrame(HistoryQuery):
    action: Literal["history"]
    room: ConversationId


class TypingFrame(Input):
    action: Literal["typing"]
    room: ConversationId


class PingFrame(Input):
    action: Literal["ping"]


Frame = Annotated[
    Union[JoinFrame, LeaveFrame, SendFrame, DmFrame, HistoryFrame, TypingFrame, PingFrame],
    Field(discriminator="action"),
]
ACTIONS = ("join", "leave", "send", "dm", "history", "typing", "ping")
_frame_adapter = TypeAdapter(Frame)


def _field_reasons(error: ValidationError) -> dict:
    fields = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"] if part not in ACTIONS) or "body"
        reason = item["msg"].removeprefix("Value error, ")
        fields.setdefault(name, reason)
    return fields


def parse(model: type[Input], data) -> Input:
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid("Some fields are invalid.", _field_reasons(error)) from None


def parse_json_body(raw: bytes | str | None) -> dict:
    try:
        data = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid("The request body must be valid JSON.") from None
    if not isinstance(data, dict):
        raise invalid("The request body must be a JSON object.")
    return data


class FrameError(ChatError):
    """An invalid client frame, remembering what the client can correlate it with."""

    def __init__(self, error: ChatError, action=None, client_id=None):
        super().__init__(error.code, error.message, error.fields)
        self.action = action
        self.client_id = client_id


def frame_context(data) -> tuple:
    """The action and client_id of a frame, as far as they are plain strings an error frame can echo."""
    if not isinstance(data, dict):
        return None, None

    def echoable(value, limit):
        return value if isinstance(value, str) and len(value) <= limit and is_text(value) else None
    return echoable(data.get("action"), 64), echoable(data.get("client_id"), 128)


def parse_frame(raw: str | bytes | None):
    """Validate one client frame; raises FrameError with what the error frame should echo."""
    try:
        data = parse_json_body(raw)
    except ChatError as error:
        raise FrameError(error) from None
    action, client_id = frame_context(data)
    if action not in ACTIONS:
        error = invalid("Unknown or missing action.", {"action": f"must be one of {', '.join(ACTIONS)}"})
        raise FrameError(error, action, client_id)
    try:
        return _frame_adapter.validate_python(data)
    except ValidationError as error:
        raise FrameError(invalid("Some fields are invalid.", _field_reasons(error)),
                         action, client_id) from None
