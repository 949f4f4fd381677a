"""The fan-out hand-off to SQS workers (chalicelib/notifier.py, app.fanout_worker)."""
import dataclasses
import json
from collections import Counter

import boto3
import pytest
from moto import mock_aws

from chalicelib import notifier, runtime
from support import settings_for_tests

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


@pytest.fixture
def container():
    """The handlers' runtime, with a fan-out queue for rooms of more than 10 connections."""
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="chat-fanout")["QueueUrl"]
        built = runtime.Runtime(settings_for_tests(fanout_queue_url=url, fanout_batch_threshold=10))
        runtime.use(built)
        try:
            yield built
        finally:
            runtime.use(None)


@pytest.fixture
def posted(monkeypatch):
    """Connection ids posted to, counted, instead of calling the management API."""
    counts = Counter()

    def post(self, connection_id, data):
        counts[connection_id] += 1
        return True
    monkeypatch.setattr(notifier.Notifier, "_post", post)
    return counts


def drain(container):
    client, bodies, url = boto3.client("sqs"), [], container.settings.fanout_queue_url
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_small_rooms_are_posted_from_the_handler(container, posted):
    ids = [f"c{index}" for index in range(10)]
    assert container.notifier_at(ENDPOINT).broadcast(ids, {"type": "pong"}) == 10
    assert posted == Counter(ids)
    assert drain(container) == []


def test_big_rooms_are_queued_in_batches_and_the_worker_posts_each_once(container, posted, monkeypatch):
    monkeypatch.setattr(notifier, "FANOUT_BATCH", 4)
    ids = [f"c{index}" for index in range(11)]
    frame = {"type": "message", "message": {"text": "héllo"}}
    assert container.notifier_at(ENDPOINT).broadcast(ids, frame) == 11
    assert not posted
    bodies = drain(container)
    assert len(bodies) == 3
    assert all(json.loads(body)["endpoint"] == ENDPOINT for body in bodies)
    assert container.fan_out(bodies) == 11
    assert posted == Counter(ids)


def test_the_worker_handler_takes_the_sqs_event(container, posted):
    import app
    ids = [f"c{index}" for index in range(12)]
    container.notifier_at(ENDPOINT).broadcast(ids, {"type": "pong"})
    (body,) = drain(container)
    record = {"messageId": "1", "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
              "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:chat-fanout"}
    app.fanout_worker({"Records": [record]}, None)
    assert posted == Counter(ids)


def test_a_failing_queue_falls_back_to_posting(container, posted):
    settings = container.settings
    missing = runtime.Runtime(dataclasses.replace(settings, fanout_queue_url=settings.fanout_queue_url + "-missing"))
    ids = [f"c{index}" for index in range(25)]
    assert missing.notifier_at(ENDPOINT).broadcast(ids, {"type": "pong"}) == 25
    assert posted == Counter(ids)


@pytest.mark.parametrize("endpoint", ["https://evil.example.com/ws", "http://abc.execute-api.us-east-1.amazonaws.com/x",
                                      "https://abc.execute-api.us-east-1.amazonaws.com.evil.com/x"])
def test_the_worker_posts_only_to_api_gateway(container, posted, endpoint):
    body = json.dumps({"endpoint": endpoint, "frame": "{}", "connections": ["c1"]})
    assert container.fan_out([body, "not json"]) == 0
    assert not posted
