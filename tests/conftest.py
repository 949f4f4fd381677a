"""What every test shares: fake AWS credentials for boto3, the settings the in-process tests
build their objects from, and one local server for the end-to-end and browser suites."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# boto3 reads these itself; moto accepts any. Nothing of the app reads the environment in tests.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
})
for variable in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
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
