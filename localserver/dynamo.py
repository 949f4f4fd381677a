"""DynamoDB for the local server: moto's server on loopback, with tables made from the
stack's template and their items kept on disk between runs."""
import json
import logging
import os
import threading
from pathlib import Path

import boto3
from moto.dynamodb.models import DynamoDBBackend
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "resources.json"
# Logical id in the template -> the environment variable naming the table.
TABLES = {"UsersTable": "USERS_TABLE", "RoomsTable": "ROOMS_TABLE",
          "ConnectionsTable": "CONNECTIONS_TABLE", "MessagesTable": "MESSAGES_TABLE"}
# Connections die with the server, as API Gateway's would; the rest is kept.
KEPT = ("UsersTable", "RoomsTable", "MessagesTable")
log = logging.getLogger(__name__)


# DynamoDB applies each request atomically. moto's server handles requests on many threads
# and does not: a TransactWriteItems deep-copies tables that another write is changing
# ("dictionary changed size during iteration", a 500). One lock around moto's table
# operations gives the local stand-in DynamoDB's atomicity.
_ATOMIC = ("get_item", "query", "scan", "batch_get_item", "batch_write_item", "put_item", "update_item",
           "delete_item", "transact_write_items", "transact_get_items")
_moto_lock = threading.RLock()


def _make_moto_atomic() -> None:
    for name in _ATOMIC:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "atomic", False):
            continue

        def atomic(*args, _method=method, **kwargs):
            with _moto_lock:
                return _method(*args, **kwargs)
        atomic.atomic = True
        setattr(DynamoDBBackend, name, atomic)


def table_definitions(template_path: Path = TEMPLATE) -> dict[str, dict]:
    """CreateTable arguments per logical id, read from the deployable template."""
    resources = json.loads(template_path.read_text())["Resources"]
    definitions = {}
    for logical_id in TABLES:
        props = resources[logical_id]["Properties"]
        args = {key: props[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode")}
        if "GlobalSecondaryIndexes" in props:
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        definitions[logical_id] = args
    return definitions


def create_tables(client, names: dict[str, str]) -> None:
    """names: logical id -> table name."""
    for logical_id, args in table_definitions().items():
        client.create_table(TableName=names[logical_id], **args)


def table_names() -> dict[str, str]:
    return {logical_id: os.environ[variable] for logical_id, variable in TABLES.items()}


class LocalDynamo:
    def __init__(self, data_dir: Path, snapshot_seconds: float = 1.0):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.snapshot_path = data_dir / "dynamodb.json"
        self.snapshot_seconds = snapshot_seconds
        self._stop = threading.Event()
        self._last = None
        self._thread = None

    def start(self) -> str:
        _make_moto_atomic()
        self.server.start()
        host, port = self.server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        self.client = boto3.client("dynamodb", endpoint_url=endpoint)
        create_tables(self.client, table_names())
        self._restore()
        self._thread = threading.Thread(target=self._snapshot_loop, name="snapshot", daemon=True)
        self._thread.start()
        return endpoint

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.snapshot()
        self.server.stop()

    def _restore(self) -> None:
        if not self.snapshot_path.exists():
            return
        saved = json.loads(self.snapshot_path.read_text())
        names = table_names()
        for logical_id, items in saved.items():
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                self.client.batch_write_item(RequestItems={names[logical_id]: batch})
        self._last = self.snapshot_path.read_text()

    def _items(self, table: str) -> list[dict]:
        # A Scan is right here: this copies whole tables to disk; no user action runs it.
        items = []
        for page in self.client.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
        return items

    def snapshot(self) -> None:
        names = table_names()
        text = json.dumps({logical_id: self._items(names[logical_id]) for logical_id in KEPT}, sort_keys=True)
        if text == self._last:
            return
        temporary = self.snapshot_path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.snapshot_path)
        self._last = text

    def _snapshot_loop(self) -> None:
        while not self._stop.wait(self.snapshot_seconds):
            try:
                self.snapshot()
            except Exception:  # noqa: BLE001 - keep snapshotting; the next pass may succeed
                log.exception("snapshot failed")
