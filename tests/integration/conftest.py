"""moto-backed AWS for service and storage tests, with tables made from infra/resources.json."""
import functools
import threading

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from chalicelib.chat import ChatService
from chalicelib.notifier import Notifier
from chalicelib.storage import Storage, dynamodb_client
from localserver.dynamo import create_tables, table_names

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# moto answers management-API calls made to API Gateway's own host names.
ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


_moto_lock = threading.RLock()


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _moto_lock:
            return method(*args, **kwargs)
    return locked


@pytest.fixture(autouse=True, scope="session")
def atomic_moto_writes():
    """DynamoDB applies each conditional write and transaction atomically; moto checks and
    writes in separate steps, so threads can interleave between them. Serialising moto's
    writes makes the stand-in keep DynamoDB's guarantee that the concurrency tests rely on."""
    originals = {name: getattr(DynamoDBBackend, name) for name in WRITES}
    for name, method in originals.items():
        setattr(DynamoDBBackend, name, _atomic(method))
    yield
    for name, method in originals.items():
        setattr(DynamoDBBackend, name, method)


@pytest.fixture
def aws():
    with mock_aws():
        dynamodb_client.cache_clear()
        create_tables(boto3.client("dynamodb"), table_names())
        yield
    dynamodb_client.cache_clear()


@pytest.fixture
def service(aws):
    return ChatService(Storage())


@pytest.fixture
def notifier(service):
    return Notifier(ENDPOINT, on_gone=service.storage.delete_connection)


@pytest.fixture
def calls(service):
    """Every DynamoDB operation the service makes, in order."""
    recorded = []
    service.storage.client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: recorded.append(model.name))
    return recorded
