"""When two names are the same name: the keys that make room names unique."""


def room_name_key(name: str) -> str:
    """The key two room names share when people would take them for one name."""
    return name.lower()
