"""Sends frames to WebSocket connections through API Gateway's management API.

A room with more connections than the fan-out queue's threshold does not post from the
handler: it queues batches of connection ids on SQS (FANOUT_QUEUE_URL) and the fan-out
worker (app.fanout_worker) posts them, so one send never outgrows a Lambda call.
"""
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger(__name__)
# A post waits ~20 ms on API Gateway and costs botocore well under 1 ms of CPU, so posts
# are I/O-bound: 64 in flight deliver 1,000 frames in 16 rounds (~0.3 s) where 32 needed
# 32 rounds (~0.65 s). Past ~64 the CPU per post, not the waiting, sets the pace.
# See docs/performance.md (fanout).
MAX_PARALLEL_POSTS = 64
_pool = ThreadPoolExecutor(max_workers=MAX_PARALLEL_POSTS, thread_name_prefix="post")
# Connection ids per SQS message: ~8 KB of ids plus a frame of at most ~25 KB.
FANOUT_BATCH = 500
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 250_000  # SQS takes at most 256 KiB per message and per batch
_API_GATEWAY_ENDPOINT = re.compile(r"https://[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com/[A-Za-z0-9_-]+")


# botocore settings of the management API client (made by the composition root).
MANAGEMENT_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3},
                                  max_pool_connections=MAX_PARALLEL_POSTS, connect_timeout=2, read_timeout=4)
SQS_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class FanoutQueue:
    """Where big rooms' fan-out goes: rooms with more connections than `threshold`."""
    client: object  # boto3 SQS client
    url: str
    threshold: int


def encode(frame: dict) -> bytes:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Notifier:
    def __init__(self, endpoint_url: str, client, on_gone, fanout: FanoutQueue | None = None):
        """`client` is a management API client for `endpoint_url`; on_gone(connection_id) is
        called for each connection API Gateway says is gone."""
        self.endpoint_url = endpoint_url
        self.client = client
        self.on_gone = on_gone
        self.fanout = fanout

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
        data = encode(frame)
        if self.fanout and len(connection_ids) > self.fanout.threshold:
            return self._hand_off(connection_ids, data)
        return self.post_all(connection_ids, data)

    def post_all(self, connection_ids: list[str], data: bytes) -> int:
        """Posts the same bytes to every connection, MAX_PARALLEL_POSTS at a time."""
        if not connection_ids:
            return 0
        if len(connection_ids) == 1:
            return int(self._post_logged(connection_ids[0], data))
        return sum(_pool.map(lambda cid: self._post_logged(cid, data), connection_ids))

    def _hand_off(self, connection_ids: list[str], data: bytes) -> int:
        """Queues the fan-out for the workers; returns how many posts were queued or made.

        Whatever SQS does not take is posted from here, so a queue outage slows a big
        room down instead of silencing it."""
        frame = data.decode("utf-8")
        jobs = []
        for start in range(0, len(connection_ids), FANOUT_BATCH):
            batch = connection_ids[start:start + FANOUT_BATCH]
            jobs.append((batch, json.dumps({"endpoint": self.endpoint_url, "frame": frame, "connections": batch},
                                           separators=(",", ":"))))
        leftovers, handed = [], 0
        for group in _sqs_batches(jobs):
            entries = [{"Id": str(index), "MessageBody": body} for index, (_, body) in enumerate(group)]
            try:
                failed = self.fanout.client.send_message_batch(QueueUrl=self.fanout.url, Entries=entries).get(
                    "Failed", [])
            except Exception as error:  # noqa: BLE001 - fall back to posting from here
                log.warning("fan-out hand-off failed: %s", type(error).__name__)
                failed = entries
            failed_ids = {item["Id"] for item in failed}
            for entry, (batch, _) in zip(entries, group):
                if entry["Id"] in failed_ids:
                    leftovers.extend(batch)
                else:
                    handed += len(batch)
        return handed + (self.post_all(leftovers, data) if leftovers else 0)

    def _post_logged(self, connection_id: str, data: bytes) -> bool:
        try:
            return self._post(connection_id, data)
        except Exception as error:  # noqa: BLE001 - one recipient must not fail the rest
            log.warning("post to %s failed: %s", connection_id, type(error).__name__)
            return False


def _sqs_batches(jobs: list[tuple[list[str], str]]):
    """Groups (ids, body) jobs into SendMessageBatch calls: at most 10 entries, 250 KB."""
    group, size = [], 0
    for job in jobs:
        length = len(job[1].encode("utf-8"))
        if group and (len(group) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            yield group
            group, size = [], 0
        group.append(job)
        size += length
    if group:
        yield group


def fan_out_job(body: str, local_endpoint: str | None) -> tuple[str, list[str], bytes]:
    """(endpoint, connection ids, frame bytes) of one queued batch, checked: the worker
    posts only to API Gateway or to the local server's own endpoint."""
    job = json.loads(body)
    endpoint, connection_ids, frame = job["endpoint"], job["connections"], job["frame"]
    if not (_API_GATEWAY_ENDPOINT.fullmatch(endpoint) or endpoint == local_endpoint):
        raise ValueError("fan-out job names an unexpected endpoint")
    if not (isinstance(connection_ids, list) and all(isinstance(item, str) for item in connection_ids)
            and isinstance(frame, str)):
        raise ValueError("malformed fan-out job")
    return endpoint, connection_ids, frame.encode("utf-8")
