"""Runtime settings: one immutable value, made from the environment by the composition
root (runtime.py) and passed to whoever needs a part of it."""
from dataclasses import dataclass, field
from typing import Mapping


# The environment variable naming each table (the stack's Globals set them; tests/infra
# checks that this map and infra/resources.json agree).
TABLE_VARIABLES = {"users": "USERS_TABLE", "rooms": "ROOMS_TABLE", "connections": "CONNECTIONS_TABLE",
                   "messages": "MESSAGES_TABLE"}


@dataclass(frozen=True)
class Tables:
    users: str = "chat-users"
    rooms: str = "chat-rooms"
    connections: str = "chat-connections"
    messages: str = "chat-messages"

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "Tables":
        return cls(**{field: env[variable] for field, variable in TABLE_VARIABLES.items() if variable in env})

    @classmethod
    def prefixed(cls, prefix: str) -> "Tables":
        """Tables named `<prefix>-users`… (the local server's and the tests')."""
        return cls(**{field: f"{prefix}-{field}" for field in TABLE_VARIABLES})


@dataclass(frozen=True)
class Budget:
    """At most `limit` counted events per fixed window of `window_seconds`."""
    limit: int = 20
    window_seconds: int = 10

    def window(self, now: float) -> int:
        return int(now // self.window_seconds)

    def retry_after(self, window: int, now: float) -> int:
        return max(1, int((window + 1) * self.window_seconds - now))


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins per window: for one account from one address (hard: the guesser's), for
    the account from anywhere (a ceiling far above it, so the owner elsewhere still signs in
    while a distributed guesser stays bounded), and from one address for any account."""
    per_pair: Budget = field(default_factory=lambda: Budget(limit=10, window_seconds=900))
    per_account: int = 100
    per_address: int = 50

    def exceeded(self, failures) -> bool:
        return (failures.pair >= self.per_pair.limit or failures.account >= self.per_account
                or failures.address >= self.per_address)


@dataclass(frozen=True)
class Settings:
    tables: Tables = field(default_factory=Tables)
    bcrypt_rounds: int = 12
    token_ttl_seconds: int = 86400
    jwt_secret: str | None = None
    jwt_secret_param: str | None = None
    # Set only by the local server: API Gateway's management API is then served
    # over plain http by it, which Chalice's own client cannot reach.
    ws_management_url: str | None = None
    # What one user may do per window, all their connections together: messages (send, dm,
    # retries included), typing frames, and room reads and moves (join, leave, history).
    frame_budget: Budget = field(default_factory=Budget)
    typing_budget: Budget = field(default_factory=lambda: Budget(limit=10, window_seconds=10))
    room_budget: Budget = field(default_factory=lambda: Budget(limit=60, window_seconds=10))
    # Open WebSocket connections per user: the next $connect is refused (429).
    max_connections_per_user: int = 10
    # New rooms per user and new accounts per source address, per hour.
    create_room_budget: Budget = field(default_factory=lambda: Budget(limit=20, window_seconds=3600))
    register_budget: Budget = field(default_factory=lambda: Budget(limit=20, window_seconds=3600))
    login_limits: LoginLimits = field(default_factory=LoginLimits)
    # Rooms with more connections than this hand their fan-out to the SQS workers,
    # when a queue is configured (see notifier.py).
    fanout_queue_url: str | None = None
    fanout_batch_threshold: int = 2000

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "Settings":
        defaults = cls()
        return cls(
            tables=Tables.from_environment(env),
            bcrypt_rounds=int(env.get("BCRYPT_ROUNDS", defaults.bcrypt_rounds)),
            token_ttl_seconds=int(env.get("TOKEN_TTL_SECONDS", defaults.token_ttl_seconds)),
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_secret_param=env.get("JWT_SECRET_PARAM") or None,
            ws_management_url=env.get("WS_MANAGEMENT_URL") or None,
            frame_budget=Budget(
                limit=int(env.get("WS_RATE_LIMIT", defaults.frame_budget.limit)),
                window_seconds=int(env.get("WS_RATE_WINDOW_SECONDS", defaults.frame_budget.window_seconds))),
            typing_budget=Budget(
                limit=int(env.get("WS_TYPING_LIMIT", defaults.typing_budget.limit)),
                window_seconds=defaults.typing_budget.window_seconds),
            room_budget=Budget(
                limit=int(env.get("WS_ROOM_LIMIT", defaults.room_budget.limit)),
                window_seconds=defaults.room_budget.window_seconds),
            max_connections_per_user=int(env.get("MAX_CONNECTIONS_PER_USER", defaults.max_connections_per_user)),
            create_room_budget=Budget(
                limit=int(env.get("ROOM_CREATE_LIMIT", defaults.create_room_budget.limit)),
                window_seconds=defaults.create_room_budget.window_seconds),
            register_budget=Budget(
                limit=int(env.get("REGISTER_LIMIT", defaults.register_budget.limit)),
                window_seconds=defaults.register_budget.window_seconds),
            login_limits=LoginLimits(
                per_pair=Budget(
                    limit=int(env.get("LOGIN_FAILURE_LIMIT", defaults.login_limits.per_pair.limit)),
                    window_seconds=int(env.get("LOGIN_FAILURE_WINDOW_SECONDS",
                                               defaults.login_limits.per_pair.window_seconds))),
                per_account=int(env.get("LOGIN_ACCOUNT_FAILURE_LIMIT", defaults.login_limits.per_account)),
                per_address=int(env.get("LOGIN_ADDRESS_FAILURE_LIMIT", defaults.login_limits.per_address))),
            fanout_queue_url=env.get("FANOUT_QUEUE_URL") or None,
            fanout_batch_threshold=int(env.get("FANOUT_BATCH_THRESHOLD", defaults.fanout_batch_threshold)),
        )
