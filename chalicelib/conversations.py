"""Conversation ids: a room's id is server-made; a DM's is `dm:<a>:<b>`, the two lowercased
usernames sorted (the contract fixes that shape)."""


def dm_id(user_a: str, user_b: str) -> str:
    first, second = sorted((user_a.lower(), user_b.lower()))
    return f"dm:{first}:{second}"


def dm_participants(conversation_id: str) -> tuple[str, str] | None:
    """The two lowercased usernames of a DM id; None for a room id."""
    parts = conversation_id.split(":")
    if len(parts) == 3 and parts[0] == "dm":
        return parts[1], parts[2]
    return None


def is_dm(conversation_id: str) -> bool:
    return dm_participants(conversation_id) is not None
