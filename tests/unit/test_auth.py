import time

import jwt
import pytest

from chalicelib import auth
from chalicelib.errors import ChatError

SECRET = "test-secret-that-is-at-least-32-bytes-long!!"
passwords = auth.Passwords(rounds=4)
tokens = auth.Tokens(lambda: SECRET, ttl_seconds=86400)


def test_passwords_hash_with_bcrypt_and_verify():
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$2b$04$")  # the cost it was given
    assert passwords.matches("correct horse", hashed)
    assert not passwords.matches("wrong horse", hashed)
    assert not passwords.matches("x" * 80, hashed)
    assert not passwords.matches("anything", None)


def test_tokens_carry_the_username_and_expire():
    token = tokens.issue("Alice")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "Alice" and claims["exp"] - claims["iat"] == 86400
    assert tokens.subject(token) == "Alice"


@pytest.mark.parametrize("make_token", [
    lambda: None,
    lambda: "",
    lambda: "a.b.c",
    lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) - 1}, SECRET, algorithm="HS256"),
    lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "another-secret-of-32-bytes-or-more!",
                       algorithm="HS256"),
    lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none"),
    lambda: jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),
    lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
])
def test_bad_tokens_are_unauthorized(make_token):
    with pytest.raises(ChatError) as refused:
        tokens.subject(make_token())
    assert refused.value.code == "unauthorized" and refused.value.status == 401


def test_bearer_header_parsing():
    assert auth.bearer_token("Bearer abc") == "abc"
    assert auth.bearer_token("bearer  abc ") == "abc"
    assert auth.bearer_token("Basic abc") is None
    assert auth.bearer_token(None) is None
