"""The long-lived objects of one Lambda container, built on first use.

app.py reaches the service through here so that importing app.py stays as cheap
as a bare Chalice app: boto3, pydantic, bcrypt and jwt load on the first request.
"""
import logging
from functools import lru_cache

from .chat import ChatService
from .notifier import Notifier, fan_out_job, management_endpoint
from .storage import Storage

log = logging.getLogger(__name__)
RETRYABLE_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                   "TransactionConflictException", "TransactionCanceledException", "LimitExceededException",
                   "TooManyRequestsException"}


@lru_cache(maxsize=1)
def chat() -> ChatService:
    return ChatService(Storage())


def notifier(domain_name: str, stage: str) -> Notifier:
    return notifier_at(management_endpoint(domain_name, stage))


def notifier_at(endpoint_url: str) -> Notifier:
    storage = chat().storage
    return Notifier(endpoint_url, on_gone=lambda connection_id: storage.delete_connection(connection_id))


def fan_out(bodies) -> int:
    """The SQS fan-out worker: posts every queued batch; returns how many frames went out.

    A bad job is logged and dropped: re-delivering it would repeat the frame to everyone."""
    delivered = 0
    for body in bodies:
        try:
            endpoint, connection_ids, data = fan_out_job(body)
        except (ValueError, KeyError, TypeError) as error:
            log.error("dropped a fan-out job: %s", error)
            continue
        delivered += notifier_at(endpoint).post_all(connection_ids, data)
    return delivered


def is_transient(error: Exception) -> bool:
    """AWS failures that outlived botocore's retries: the client may try again."""
    from botocore.exceptions import BotoCoreError, ClientError
    if isinstance(error, BotoCoreError):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status >= 500 or code in RETRYABLE_CODES
