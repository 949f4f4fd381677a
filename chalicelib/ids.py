"""Message ids: ULIDs, which sort by time, made strictly increasing within a process so
that two messages stored in the same millisecond keep the order they were sent in."""
import threading

from ulid import ULID

_lock = threading.Lock()
_last = 0


def message_id(timestamp: float, after: str | None = None) -> str:
    """A new id for a message made at `timestamp`, later than `after` if given."""
    global _last
    with _lock:
        floor = max(_last, int(ULID.from_str(after)) if after else 0)
        candidate = int(ULID.from_timestamp(timestamp))
        _last = candidate if candidate > floor else floor + 1
        return str(ULID.from_int(_last))
