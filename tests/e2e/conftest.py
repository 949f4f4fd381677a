import pytest

from support import Api, Ws


@pytest.fixture
def api(server):
    return Api(server)


@pytest.fixture
def ws(server):
    """Opens WebSocket clients and closes them at the end of the test."""
    opened = []

    def open_socket(token):
        client = Ws(server, token)
        opened.append(client)
        return client
    yield open_socket
    for client in opened:
        client.close()
