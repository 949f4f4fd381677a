"""Password hashing (bcrypt) and access tokens (JWT, HS256)."""
import secrets
import time
from functools import lru_cache

import bcrypt
import jwt

from .config import settings
from .errors import unauthorized

ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(rounds=settings().bcrypt_rounds)
    return bcrypt.hashpw(password.encode("utf-8"), salt).decode("ascii")


@lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    return hash_password(secrets.token_hex(16)).encode("ascii")


def password_matches(password: str, stored_hash: str | None) -> bool:
    """Checks a password; with no stored hash it still spends a bcrypt check, so that
    unknown users and wrong passwords take the same time."""
    candidate = password.encode("utf-8")
    if len(candidate) > 72:
        return False
    if stored_hash is None:
        bcrypt.checkpw(candidate, _dummy_hash())
        return False
    return bcrypt.checkpw(candidate, stored_hash.encode("ascii"))


@lru_cache(maxsize=1)
def signing_secret() -> str:
    """The JWT secret: from the environment locally, from SSM (read once per container) in AWS."""
    config = settings()
    if config.jwt_secret:
        return config.jwt_secret
    if not config.jwt_secret_param:
        raise RuntimeError("Set JWT_SECRET or JWT_SECRET_PARAM")
    import boto3
    response = boto3.client("ssm").get_parameter(Name=config.jwt_secret_param, WithDecryption=True)
    return response["Parameter"]["Value"]


def issue_token(username: str) -> str:
    now = int(time.time())
    claims = {"sub": username, "iat": now, "exp": now + settings().token_ttl_seconds}
    return jwt.encode(claims, signing_secret(), algorithm=ALGORITHM)


def username_from_token(token: str | None) -> str:
    """The token's subject; any missing, expired, tampered or unsigned token is refused."""
    if not token:
        raise unauthorized()
    try:
        claims = jwt.decode(token, signing_secret(), algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
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
