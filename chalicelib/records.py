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
    """One action of `kind` counted in its subject's budget (a user, or an address) for
    `window`, at most `limit` per window; storage applies it alone or inside the write it
    goes with."""
    kind: str
    subject: str
    window: int
    limit: int
    # When the counter may go (the window's end, plus a margin): DynamoDB's TTL removes it.
    expires_at: int


@dataclass(frozen=True)
class LoginFailures:
    """Failed logins in one window: for an account from one address, for the account from
    anywhere, and from the address for any account."""
    pair: int
    account: int
    address: int
