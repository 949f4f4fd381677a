"""A local server of the reliability tests' own, with the rate limits out of the way:
the fuzzers and the soak send far faster than people (tests/e2e/test_limits.py covers
the limits themselves)."""
import json
import urllib.request

import pytest

from support import Api, Ws, local_server

UNLIMITED = {"WS_RATE_LIMIT": "1000000", "LOGIN_FAILURE_LIMIT": "1000000"}


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with local_server(tmp_path_factory.mktemp("reliability"), env=UNLIMITED) as base:
        yield base


@pytest.fixture
def api(server):
    return Api(server)


@pytest.fixture
def ws(server):
    """Opens WebSocket clients and closes them at the end of the test."""
    opened = []

    def open_socket(token, base=None):
        client = Ws(base or server, token)
        opened.append(client)
        return client
    yield open_socket
    for client in opened:
        client.close()


def open_connections(base: str) -> list[dict]:
    """The local server's open connections (its loopback-only `GET /@connections`)."""
    with urllib.request.urlopen(base + "/@connections", timeout=10) as response:
        return json.loads(response.read())["Connections"]


def close_from_server(base: str, connection_id: str) -> int:
    """API Gateway's `DELETE /@connections/{id}`: the server closes that client's socket."""
    request = urllib.request.Request(f"{base}/@connections/{connection_id}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
