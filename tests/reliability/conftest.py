"""A local server of the reliability tests' own, with the rate limits out of the way:
the fuzzers and the soak send far faster than people (tests/e2e/test_limits.py covers
the limits themselves). The `api` and `ws` fixtures of tests/conftest.py use this server here."""
import pytest

from support import local_server

UNLIMITED = {"WS_RATE_LIMIT": "1000000", "WS_TYPING_LIMIT": "1000000", "WS_ROOM_LIMIT": "1000000",
             "LOGIN_FAILURE_LIMIT": "1000000", "LOGIN_ACCOUNT_FAILURE_LIMIT": "1000000",
             "LOGIN_ADDRESS_FAILURE_LIMIT": "1000000", "ROOM_CREATE_LIMIT": "1000000", "REGISTER_LIMIT": "1000000",
             "MAX_CONNECTIONS_PER_USER": "1000000"}


@pytest.fixture(scope="session")
def server_output(tmp_path_factory):
    """What the shared reliability server prints (its log), for the tests that read it."""
    return tmp_path_factory.mktemp("reliability-log") / "server.log"


@pytest.fixture(scope="session")
def server_data(tmp_path_factory):
    """The shared server's data folder (its JWT secret is `jwt-secret` there)."""
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def server(server_data, server_output):
    with local_server(server_data, env=UNLIMITED, output=server_output) as base:
        yield base
