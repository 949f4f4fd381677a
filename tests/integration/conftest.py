"""moto-backed AWS for service and storage tests, with tables made from infra/resources.json."""
import boto3
import pytest
from moto import mock_aws

from chalicelib.chat import ChatService
from chalicelib.notifier import Notifier
from chalicelib.storage import Storage, dynamodb_client
from localserver.dynamo import create_tables, table_names

# moto answers management-API calls made to API Gateway's own host names.
ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


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
