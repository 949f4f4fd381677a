"""DynamoDB for the local server: moto's server on loopback, with tables made from the
stack's template and their items kept on disk between runs."""
import json
import logging
import os
import threading
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from chalicelib.config import TABLE_VARIABLES, Tables
from infra import stack

from .moto_lock import make_moto_atomic

# Connections die with the server, as API Gateway's would; the rest is kept.
KEPT = ("UsersTable", "RoomsTable", "MessagesTable")
log = logging.getLogger(__name__)


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner can read, from its first byte: the data holds password
    hashes and the secret that signs tokens."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)  # a file left by an older run keeps its mode through O_CREAT
        file.write(text)


def table_names(tables: Tables) -> dict[str, str]:
    """Logical id in the template -> the table's name."""
    declared = stack.table_variables()
    return {declared[variable]: getattr(tables, field) for field, variable in TABLE_VARIABLES.items()}


def create_tables(client, tables: Tables) -> None:
    names = table_names(tables)
    for logical_id, args in stack.table_definitions().items():
        client.create_table(TableName=names[logical_id], **args)


class LocalDynamo:
    def __init__(self, data_dir: Path, tables: Tables, session: boto3.session.Session,
                 snapshot_seconds: float = 1.0):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.tables = tables
        self.names = table_names(tables)
        self.session = session
        self.snapshot_path = data_dir / "dynamodb.json"
        self.snapshot_seconds = snapshot_seconds
        self._stop = threading.Event()
        self._last = None
        self._thread = None

    def start(self) -> str:
        make_moto_atomic()
        self.server.start()
        host, port = self.server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        self.client = self.session.client("dynamodb", endpoint_url=endpoint)
        create_tables(self.client, self.tables)
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
        names = self.names
        for logical_id, items in saved.items():
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
                self.client.batch_write_item(RequestItems={names[logical_id]: batch})
        self._last = self.snapshot_path.read_text()
        # Older runs wrote it world-readable; an unchanged snapshot is never rewritten.
        self.snapshot_path.chmod(0o600)

    def _items(self, table: str) -> list[dict]:
        # A Scan is right here: this copies whole tables to disk; no user action runs it.
        items = []
        for page in self.client.get_paginator("scan").paginate(TableName=table):
            items.extend(page["Items"])
        return items

    def snapshot(self) -> None:
        text = json.dumps({logical_id: self._items(self.names[logical_id]) for logical_id in KEPT}, sort_keys=True)
        if text == self._last:
            return
        temporary = self.snapshot_path.with_suffix(".tmp")
        write_private(temporary, text)
        temporary.replace(self.snapshot_path)
        self._last = text

    def _snapshot_loop(self) -> None:
        while not self._stop.wait(self.snapshot_seconds):
            try:
                self.snapshot()
            except Exception:  # noqa: BLE001 - keep snapshotting; the next pass may succeed
                log.exception("snapshot failed")
