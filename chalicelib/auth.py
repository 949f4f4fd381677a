"""Password hashing (bcrypt) and access tokens (JWT, HS256)."""
import secrets
import time
from functools import cached_property
from typing import Callable

import bcrypt
import jwt

from .errors import unauthorized

ALGORITHM = "HS256"


class Passwords:
    def __init__(self, rounds: int):
        self.rounds = rounds

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=self.rounds)).decode("ascii")

    @cached_property
    def _dummy_hash(self) -> bytes:
        return self.hash(secrets.token_hex(16)).encode("ascii")

    def matches(self, password: str, stored_hash: str | None) -> bool:
        """Checks a password; with no stored hash it still spends a bcrypt check, so that
        unknown users and wrong passwords take the same time."""
        candidate = password.encode("utf-8")
        if len(candidate) > 72:
            return False
        if stored_hash is None:
            bcrypt.checkpw(candidate, self._dummy_hash)
            return False
        return bcrypt.checkpw(candidate, stored_hash.encode("ascii"))


class Tokens:
    def __init__(self, secret: Callable[[], str], ttl_seconds: int):
        """`secret()` gives the signing secret; it is asked once, on the first token."""
        self._read_secret = secret
        self.ttl_seconds = ttl_seconds

    @cached_property
    def _secret(self) -> str:
        return self._read_secret()

    def issue(self, username: str) -> str:
        now = int(time.time())
        claims = {"sub": username, "iat": now, "exp": now + self.ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def subject(self, token: str | None) -> str:
        """The token's subject; any missing, expired, tampered or unsigned token is refused."""
        if not token:
            raise unauthorized()
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            raise unauthorized("The token is invalid or expired.") from None
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise unauthorized("The token is invalid or expired.")
        return subject


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
