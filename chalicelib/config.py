"""Runtime settings, read from the environment in this one place."""
import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    users_table: str
    rooms_table: str
    connections_table: str
    messages_table: str
    bcrypt_rounds: int
    token_ttl_seconds: int
    jwt_secret: str | None
    jwt_secret_param: str | None
    # Set only by the local server: API Gateway's management API is then served
    # over plain http by it, which Chalice's own client cannot reach.
    ws_management_url: str | None
    # Frames (send, dm, typing) one connection may send per window, and failed logins
    # per username and per source address per window.
    ws_rate_limit: int
    ws_rate_window_seconds: int
    login_failure_limit: int
    login_failure_window_seconds: int
    # Rooms with more connections than this hand their fan-out to the SQS workers,
    # when a queue is configured (see notifier.py).
    fanout_queue_url: str | None
    fanout_batch_threshold: int


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = os.environ
    return Settings(
        users_table=env.get("USERS_TABLE", "chat-users"),
        rooms_table=env.get("ROOMS_TABLE", "chat-rooms"),
        connections_table=env.get("CONNECTIONS_TABLE", "chat-connections"),
        messages_table=env.get("MESSAGES_TABLE", "chat-messages"),
        bcrypt_rounds=int(env.get("BCRYPT_ROUNDS", "12")),
        token_ttl_seconds=int(env.get("TOKEN_TTL_SECONDS", "86400")),
        jwt_secret=env.get("JWT_SECRET") or None,
        jwt_secret_param=env.get("JWT_SECRET_PARAM") or None,
        ws_management_url=env.get("WS_MANAGEMENT_URL") or None,
        ws_rate_limit=int(env.get("WS_RATE_LIMIT", "20")),
        ws_rate_window_seconds=int(env.get("WS_RATE_WINDOW_SECONDS", "10")),
        login_failure_limit=int(env.get("LOGIN_FAILURE_LIMIT", "10")),
        login_failure_window_seconds=int(env.get("LOGIN_FAILURE_WINDOW_SECONDS", "900")),
        fanout_queue_url=env.get("FANOUT_QUEUE_URL") or None,
        fanout_batch_threshold=int(env.get("FANOUT_BATCH_THRESHOLD", "2000")),
    )
