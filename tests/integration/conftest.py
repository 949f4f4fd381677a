"""moto-backed AWS for service and storage tests, with tables made from infra/resources.json."""
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
