"""The composition root: builds the settings, the AWS clients and the services of one
Lambda container, once, and is the only code that reads the environment.

app.py reaches the service through here so that importing app.py stays as cheap as a
bare Chalice app: boto3, pydantic, bcrypt and jwt load on the first request. Tests,
benchmarks and the local server build a Runtime of their own and install it with use().
"""
import logging
import os
import threading
from functools import cached_property

import boto3
from botocore.config import Config

from .auth import Passwords, Tokens
from .chat import ChatService
from .config import Settings
from .notifier import MANAGEMENT_CLIENT_CONFIG, SQS_CLIENT_CONFIG, FanoutQueue, Notifier, fan_out_job
from .storage import Storage

log = logging.getLogger(__name__)
RETRYABLE_CODES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                   "TransactionConflictException", "TransactionCanceledException", "LimitExceededException",
                   "TooManyRequestsException"}
# Standard retry mode backs off on throttling with a retry quota, so a throttled table slows
# callers down instead of multiplying the load; four tries must fit in API Gateway's 29 s.
DYNAMODB_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=32,
                                connect_timeout=2, read_timeout=4)


class Runtime:
    def __init__(self, settings: Settings, session: boto3.session.Session | None = None,
                 dynamodb_endpoint: str | None = None):
        """`dynamodb_endpoint` points at a stand-in (the local server's moto); AWS needs none."""
        self.settings = settings
        self.session = session or boto3.session.Session()
        self.dynamodb_endpoint = dynamodb_endpoint
        self._management_clients: dict[str, object] = {}
        self._lock = threading.Lock()

    @cached_property
    def dynamodb(self):
        return self.session.client("dynamodb", endpoint_url=self.dynamodb_endpoint, config=DYNAMODB_CLIENT_CONFIG)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.dynamodb, self.settings.tables)

    @cached_property
    def chat(self) -> ChatService:
        settings = self.settings
        return ChatService(self.storage, Passwords(settings.bcrypt_rounds),
                           Tokens(self._jwt_secret, settings.token_ttl_seconds),
                           budgets={"message": settings.frame_budget, "typing": settings.typing_budget,
                                    "room": settings.room_budget, "create_room": settings.create_room_budget,
                                    "register": settings.register_budget},
                           login_limits=settings.login_limits,
                           max_connections_per_user=settings.max_connections_per_user)

    def _jwt_secret(self) -> str:
        """From the settings locally, from SSM (read once per container) in AWS."""
        if self.settings.jwt_secret:
            return self.settings.jwt_secret
        if not self.settings.jwt_secret_param:
            raise RuntimeError("Set JWT_SECRET or JWT_SECRET_PARAM")
        response = self.session.client("ssm").get_parameter(Name=self.settings.jwt_secret_param,
                                                            WithDecryption=True)
        return response["Parameter"]["Value"]

    @cached_property
    def fanout(self) -> FanoutQueue | None:
        if not self.settings.fanout_queue_url:
            return None
        return FanoutQueue(self.session.client("sqs", config=SQS_CLIENT_CONFIG), self.settings.fanout_queue_url,
                           self.settings.fanout_batch_threshold)

    def management_endpoint(self, domain_name: str, stage: str) -> str:
        """The one place that decides where the management API is: the local server's own
        http endpoint when it says so, otherwise the API Gateway domain that sent the event."""
        return self.settings.ws_management_url or f"https://{domain_name}/{stage}"

    def notifier(self, domain_name: str, stage: str) -> Notifier:
        return self.notifier_at(self.management_endpoint(domain_name, stage))

    def notifier_at(self, endpoint_url: str) -> Notifier:
        with self._lock:
            client = self._management_clients.get(endpoint_url)
            if client is None:
                client = self.session.client("apigatewaymanagementapi", endpoint_url=endpoint_url,
                                             config=MANAGEMENT_CLIENT_CONFIG)
                self._management_clients[endpoint_url] = client
        storage = self.storage
        return Notifier(endpoint_url, client, on_gone=lambda connection_id: storage.delete_connection(connection_id),
                        fanout=self.fanout)

    def fan_out(self, bodies) -> int:
        """The SQS fan-out worker: posts every queued batch; returns how many frames went out.

        A bad job is logged and dropped: re-delivering it would repeat the frame to everyone."""
        delivered = 0
        for body in bodies:
            try:
                endpoint, connection_ids, data = fan_out_job(body, self.settings.ws_management_url)
            except (ValueError, KeyError, TypeError) as error:
                log.error("dropped a fan-out job: %s", error)
                continue
            delivered += self.notifier_at(endpoint).post_all(connection_ids, data)
        return delivered


_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    """This container's runtime, built from the environment on first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(Settings.from_environment(os.environ))
        return _current


def use(runtime: Runtime | None) -> None:
    """Installs the runtime the handlers use (None: build it from the environment again)."""
    global _current
    with _current_lock:
        _current = runtime


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
