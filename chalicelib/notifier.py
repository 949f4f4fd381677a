"""Sends frames to WebSocket connections through API Gateway's management API."""
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .config import settings

log = logging.getLogger(__name__)
MAX_PARALLEL_POSTS = 32
_pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_POSTS, thread_name_prefix="post")


def management_endpoint(domain_name: str, stage: str) -> str:
    """The one place that decides where the management API is: the local server's own
    http endpoint when it says so, otherwise the API Gateway domain that sent the event."""
    return settings().ws_management_url or f"https://{domain_name}/{stage}"


@lru_cache(maxsize=4)
def _client(endpoint_url: str):
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=Config(
        retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=MAX_PARALLEL_POSTS))


def encode(frame: dict) -> bytes:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Notifier:
    def __init__(self, endpoint_url: str, on_gone):
        """on_gone(connection_id) is called for each connection API Gateway says is gone."""
        self.endpoint_url = endpoint_url
        self.client = _client(endpoint_url)
        self.on_gone = on_gone

    def _post(self, connection_id: str, data: bytes) -> bool:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] in ("GoneException", "410"):
                self.on_gone(connection_id)
                return False
            raise

    def send(self, connection_id: str, frame: dict) -> bool:
        return self._post_logged(connection_id, encode(frame))

    def broadcast(self, connection_ids, frame: dict) -> int:
        """Posts one frame to many connections in parallel; returns how many got it.

        A gone connection is cleaned up; any other failure is logged and counted as
        not delivered, so one bad connection cannot fail the others."""
        connection_ids = list(dict.fromkeys(connection_ids))
        if not connection_ids:
            return 0
        data = encode(frame)
        if len(connection_ids) == 1:
            return int(self._post_logged(connection_ids[0], data))
        return sum(_pool.map(lambda cid: self._post_logged(cid, data), connection_ids))

    def _post_logged(self, connection_id: str, data: bytes) -> bool:
        try:
            return self._post(connection_id, data)
        except Exception as error:  # noqa: BLE001 - one recipient must not fail the rest
            log.warning("post to %s failed: %s", connection_id, type(error).__name__)
            return False
