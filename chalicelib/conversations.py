"""Conversation ids: a room's id is server-made; a DM's is `dm:<a>:<b>`, the two lowercased
usernames sorted (the contract fixes that shape)."""
from .models import is_username


def dm_id(user_a: str, user_b: str) -> str:
    first, second = sorted((user_a.lower(), user_b.lower()))
    return f"dm:{first}:{second}"


def dm_participants(conversation_id: str) -> tuple[str, str] | None:
    """The two lowercased usernames of a DM id; None for a room id. Only two usernames make
    a DM id: anything else ("dm:alice:", an oversized tail) is an id of no room, found
    nowhere, rather than a key DynamoDB would refuse (empty, or past its size limits)."""
    parts = conversation_id.split(":")
    if len(parts) == 3 and parts[0] == "dm" and all(map(is_username, parts[1:])):
        return parts[1], parts[2]
    return None


def is_dm(conversation_id: str) -> bool:
    return dm_participants(conversation_id) is not None
