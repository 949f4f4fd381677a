"""What the repository (storage.py) hands the chat service besides the response shapes:
records with fields the service reads, never DynamoDB attribute names."""
from dataclasses import dataclass


@dataclass(frozen=True)
class StoredUser:
    username: str
    email: str
    password_hash: str
    created_at: str


@dataclass(frozen=True)
class Connection:
    connection_id: str
    username: str
    rooms: frozenset[str]
    # The budget window its frames were last counted in, and how many were counted there.
    counted_window: int | None
    frames: int


@dataclass(frozen=True)
class Subscriber:
    """A connection that has joined a room."""
    connection_id: str
    username: str


@dataclass(frozen=True)
class Membership:
    conversation_id: str
    # For a DM: the other participant, as registered, and the time of its newest message.
    partner: str | None
    last_message_at: str | None


@dataclass(frozen=True)
class FrameCharge:
    """One frame counted in a connection's budget for `window`, at most `limit` per window;
    storage applies it inside the write it goes with."""
    connection: Connection
    window: int
    limit: int
