"""The fan-out hand-off to SQS workers (chalicelib/notifier.py, app.fanout_worker)."""
import json
from collections import Counter

import boto3
import pytest
from moto import mock_aws

from chalicelib import config, notifier, runtime, storage

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


@pytest.fixture
def queue(monkeypatch):
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="chat-fanout")["QueueUrl"]
        monkeypatch.setenv("FANOUT_QUEUE_URL", url)
        monkeypatch.setenv("FANOUT_BATCH_THRESHOLD", "10")
        for cached in (config.settings, notifier._sqs, notifier._client, storage.dynamodb_client, runtime.chat):
            cached.cache_clear()
        yield url
    for cached in (config.settings, notifier._sqs, notifier._client, storage.dynamodb_client, runtime.chat):
        cached.cache_clear()


@pytest.fixture
def posted(monkeypatch):
    """Connection ids posted to, counted, instead of calling the management API."""
    counts = Counter()

    def post(self, connection_id, data):
        counts[connection_id] += 1
        return True
    monkeypatch.setattr(notifier.Notifier, "_post", post)
    return counts


def drain(url):
    client, bodies = boto3.client("sqs"), []
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_small_rooms_are_posted_from_the_handler(queue, posted):
    ids = [f"c{index}" for index in range(10)]
    assert notifier.Notifier(ENDPOINT, on_gone=print).broadcast(ids, {"type": "pong"}) == 10
    assert posted == Counter(ids)
    assert drain(queue) == []


def test_big_rooms_are_queued_in_batches_and_the_worker_posts_each_once(queue, posted, monkeypatch):
    monkeypatch.setattr(notifier, "FANOUT_BATCH", 4)
    ids = [f"c{index}" for index in range(11)]
    frame = {"type": "message", "message": {"text": "héllo"}}
    assert notifier.Notifier(ENDPOINT, on_gone=print).broadcast(ids, frame) == 11
    assert not posted
    bodies = drain(queue)
    assert len(bodies) == 3
    assert all(json.loads(body)["endpoint"] == ENDPOINT for body in bodies)
    assert runtime.fan_out(bodies) == 11
    assert posted == Counter(ids)


def test_the_worker_handler_takes_the_sqs_event(queue, posted):
    import app
    ids = [f"c{index}" for index in range(12)]
    notifier.Notifier(ENDPOINT, on_gone=print).broadcast(ids, {"type": "pong"})
    (body,) = drain(queue)
    record = {"messageId": "1", "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
              "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:chat-fanout"}
    app.fanout_worker({"Records": [record]}, None)
    assert posted == Counter(ids)


def test_a_failing_queue_falls_back_to_posting(queue, posted, monkeypatch):
    monkeypatch.setenv("FANOUT_QUEUE_URL", queue + "-missing")
    config.settings.cache_clear()
    ids = [f"c{index}" for index in range(25)]
    assert notifier.Notifier(ENDPOINT, on_gone=print).broadcast(ids, {"type": "pong"}) == 25
    assert posted == Counter(ids)


@pytest.mark.parametrize("endpoint", ["https://evil.example.com/ws", "http://abc.execute-api.us-east-1.amazonaws.com/x",
                                      "https://abc.execute-api.us-east-1.amazonaws.com.evil.com/x"])
def test_the_worker_posts_only_to_api_gateway(queue, posted, endpoint):
    body = json.dumps({"endpoint": endpoint, "frame": "{}", "connections": ["c1"]})
    assert runtime.fan_out([body, "not json"]) == 0
    assert not posted
