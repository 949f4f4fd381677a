"""Settings for every test: fake AWS credentials, fast bcrypt, a fixed JWT secret."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "USERS_TABLE": "test-users", "ROOMS_TABLE": "test-rooms",
    "CONNECTIONS_TABLE": "test-connections", "MESSAGES_TABLE": "test-messages",
    # Tests may lower the bcrypt cost; deployed stages keep 12.
    "BCRYPT_ROUNDS": "4",
    "JWT_SECRET": "test-secret-that-is-at-least-32-bytes-long!!",
    # Tests send faster than people; the rate-limit tests set their own, lower limits.
    "WS_RATE_LIMIT": "1000",
    "LOGIN_FAILURE_LIMIT": "1000",
})
for variable in ("JWT_SECRET_PARAM", "WS_MANAGEMENT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(variable, None)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One local server for the session's end-to-end and browser tests; yields its base URL."""
    from support import local_server
    with local_server(tmp_path_factory.mktemp("data")) as base:
        yield base


@pytest.fixture
def api(server):
    from support import Api
    return Api(server)


@pytest.fixture
def ws(server):
    """Opens WebSocket clients (to `server`, or to `base`) and closes them at the end of the test."""
    from support import Ws
    opened = []

    def open_socket(token, base=None):
        client = Ws(base or server, token)
        opened.append(client)
        return client
    yield open_socket
    for client in opened:
        client.close()
