"""moto-backed AWS for service and storage tests, with tables made from infra/resources.json."""
import json

import pytest

from localserver.moto_lock import make_moto_atomic
from support import in_process_app

# moto answers management-API calls made to API Gateway's own host names.
ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


@pytest.fixture(autouse=True, scope="session")
def atomic_moto():
    """The concurrency tests rely on DynamoDB's atomic conditional writes (see moto_lock)."""
    make_moto_atomic()


@pytest.fixture
def runtime():
    with in_process_app() as built:
        yield built


@pytest.fixture
def service(runtime):
    return runtime.chat


@pytest.fixture
def notifier(runtime):
    return runtime.notifier_at(ENDPOINT)


@pytest.fixture
def calls(service):
    """Every DynamoDB operation the service makes, in order."""
    recorded = []
    service.storage.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: recorded.append(model.name))
    return recorded


class Inbox:
    """The frames posted to each connection, as moto's management API recorded them (it
    appends the posted bytes per connection, so the frames are read back one JSON at a time)."""

    def __init__(self):
        from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
        from moto.core import DEFAULT_ACCOUNT_ID
        self.backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def take(self, connection_id: str, kind: str | None = None) -> list[dict]:
        """The frames `connection_id` got since the last take (of `kind` only, if given)."""
        connection = self.backend.connections.get(connection_id)
        text = connection.data.decode("utf-8") if connection else ""
        if connection:
            connection.data = b""
        decoder, frames, position = json.JSONDecoder(), [], 0
        while position < len(text):
            frame, position = decoder.raw_decode(text, position)
            frames.append(frame)
        return [frame for frame in frames if kind is None or frame["type"] == kind]


@pytest.fixture
def inbox(runtime):
    return Inbox()
