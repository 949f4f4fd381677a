"""Message ids: ULIDs, which sort by time, made strictly increasing within a process so
that two messages stored in the same millisecond keep the order they were sent in."""
import threading

from ulid import ULID

_lock = threading.Lock()
_last = 0


def message_id(timestamp: float) -> str:
    global _last
    with _lock:
        candidate = int(ULID.from_timestamp(timestamp))
        _last = candidate if candidate > _last else _last + 1
        return str(ULID.from_int(_last))
