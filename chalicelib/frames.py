"""The frames the server sends over the WebSocket, shaped as the contract says."""
import json

from .shapes import Message, Room

# API Gateway refuses posts over 128 KB; stay clear of it with room for the envelope.
MAX_FRAME_BYTES = 120_000


def _size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def fit_messages(messages: list[Message], more: bool, keep_newest: bool) -> tuple[list[Message], bool]:
    """Drops messages from the far end of a page until it fits one frame; `more` then says so."""
    budget = MAX_FRAME_BYTES - 2_000
    total, kept = 0, []
    ordered = reversed(messages) if keep_newest else messages
    for message in ordered:
        total += _size(message.dump()) + 1
        if total > budget:
            more = True
            break
        kept.append(message)
    if keep_newest:
        kept.reverse()
    return kept, more


def joined(room: Room, messages: list[Message], more: bool, members: list[str]) -> dict:
    return {"type": "joined", "room": room.dump(), "messages": [item.dump() for item in messages], "more": more,
            "members": members}


def left(room_id: str) -> dict:
    return {"type": "left", "room": room_id}


def presence(room_id: str, user: str, status: str) -> dict:
    return {"type": "presence", "room": room_id, "user": user, "status": status}


def message(msg: Message) -> dict:
    return {"type": "message", "message": msg.dump()}


def history(room_id: str, messages: list[Message], more: bool) -> dict:
    return {"type": "history", "room": room_id, "messages": [item.dump() for item in messages], "more": more}


def typing(room_id: str, user: str) -> dict:
    return {"type": "typing", "room": room_id, "user": user}


def pong() -> dict:
    return {"type": "pong"}


def error(code: str, text: str, action=None, client_id=None, fields=None, retry_after=None) -> dict:
    frame = {"type": "error", "code": code, "message": text, "action": action, "client_id": client_id}
    if fields:
        frame["fields"] = fields
    if retry_after:
        frame["retry_after"] = retry_after
    return frame
