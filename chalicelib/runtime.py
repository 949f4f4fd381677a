"""The long-lived objects of one Lambda container, built on first use.

app.py reaches the service through here so that importing app.py stays as cheap
as a bare Chalice app: boto3, pydantic, bcrypt and jwt load on the first request.
"""
from functools import lru_cache

from .chat import ChatService
from .notifier import Notifier, management_endpoint
from .storage import Storage


@lru_cache(maxsize=1)
def chat() -> ChatService:
    return ChatService(Storage())


def notifier(domain_name: str, stage: str) -> Notifier:
    storage = chat().storage
    return Notifier(management_endpoint(domain_name, stage),
                    on_gone=lambda connection_id: storage.delete_connection(connection_id))


def is_transient(error: Exception) -> bool:
    """AWS failures that outlived botocore's retries: the client may try again."""
    from botocore.exceptions import BotoCoreError, ClientError
    return isinstance(error, (BotoCoreError, ClientError))
