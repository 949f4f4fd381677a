"""DynamoDB for the local server: moto's server on loopback, with tables made from the
stack's template and their items kept on disk between runs.

On disk: `dynamodb.json`, every kept item at the last compaction, and `dynamodb.journal`,
one JSON line per item changed since (its new attributes, or null when deleted), appended
once a second. Writing only what changed keeps an idle server idle and a busy one's disk
work proportional to its writes, not to what is stored. The journal is folded into the
snapshot at start, at stop, and when it outgrows the snapshot.
"""
import json
import logging
import os
import threading
from pathlib import Path

import boto3
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.server import ThreadedMotoServer

from chalicelib.config import TABLE_VARIABLES, Tables
from infra import stack

from . import fast_moto
from .moto_lock import moto_lock

# Connections die with the server, as API Gateway's would; the rest is kept.
KEPT = ("UsersTable", "RoomsTable", "MessagesTable")
# The journal may grow to this many times the snapshot (or JOURNAL_FLOOR bytes) before it
# is folded in: compaction copies everything, so it has to be rare for writes to stay cheap.
JOURNAL_GROWTH = 2
JOURNAL_FLOOR = 8 * 1024 * 1024
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


def moto_table(name: str):
    """The moto Table behind a table the server made (the server shares this process's state)."""
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            if name in backend.tables:
                return backend.tables[name]
    raise LookupError(name)


class LocalDynamo:
    def __init__(self, data_dir: Path, tables: Tables, session: boto3.session.Session,
                 snapshot_seconds: float = 1.0):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.tables = tables
        self.names = table_names(tables)
        self.session = session
        self.snapshot_path = data_dir / "dynamodb.json"
        self.journal_path = data_dir / "dynamodb.journal"
        self.snapshot_seconds = snapshot_seconds
        self._stop = threading.Event()
        self._thread = None
        self._dirty: set = set()
        self._lost_track = False
        self._snapshot_bytes = 0
        self._disk = threading.Lock()  # the flusher and stop() both write the files

    def start(self) -> str:
        fast_moto.install()
        self.server.start()
        host, port = self.server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        self.client = self.session.client("dynamodb", endpoint_url=endpoint)
        create_tables(self.client, self.tables)
        self._kept = {logical_id: moto_table(self.names[logical_id]) for logical_id in KEPT}
        self._logical = {table: logical_id for logical_id, table in self._kept.items()}
        self._restore()
        for table in self._kept.values():
            fast_moto.watch(table, self._note)
        self._thread = threading.Thread(target=self._flush_loop, name="dynamodb-journal", daemon=True)
        self._thread.start()
        return endpoint

    def stop(self) -> None:
        """Saves everything, then stops moto's server. Requests still arriving get no answer."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.compact()
        self.server.stop()

    # -- restoring -------------------------------------------------------------------
    def _restore(self) -> None:
        journal, snapshot = self.journal_path.exists(), self.snapshot_path.exists()
        if snapshot:
            saved = json.loads(self.snapshot_path.read_text())
            with moto_lock():
                for logical_id, items in saved.items():
                    for item in items:
                        self._kept[logical_id].put_item(item)
            self._snapshot_bytes = self.snapshot_path.stat().st_size
            # Older runs wrote it world-readable; an unchanged snapshot is never rewritten.
            self.snapshot_path.chmod(0o600)
        if journal:
            self._replay()
        if journal or not snapshot:
            self.compact()

    def _replay(self) -> None:
        with self.journal_path.open() as journal, moto_lock():
            for line in journal:
                try:
                    change = json.loads(line)
                except ValueError:
                    break  # the last line of a run that died while appending it
                table = self._kept[change["table"]]
                if change["item"] is not None:
                    table.put_item(change["item"])
                else:
                    table.delete_item(*(DynamoType(value) if value else None for value in change["key"]))

    # -- saving ----------------------------------------------------------------------
    def _note(self, table, key) -> None:
        # Called inside moto's lock, on the request's thread: only remember the key.
        if key is None:
            self._lost_track = True
        else:
            self._dirty.add((table, key))

    def _changes(self) -> list[str]:
        """The journal lines for the items changed since the last call."""
        with moto_lock():
            dirty, self._dirty = self._dirty, set()
            lines = []
            for table, key in dirty:
                item = fast_moto.item_at(table, key)
                lines.append(json.dumps({
                    "table": self._logical[table], "key": [part.to_json() if part else None for part in key],
                    "item": item.to_json()["Attributes"] if item is not None else None}))
        return lines

    def flush(self) -> None:
        """Appends what changed to the journal; folds it into the snapshot when it has grown."""
        with self._disk:
            if self._lost_track:
                self._compact()
                return
            lines = self._changes()
            if not lines:
                return
            descriptor = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(descriptor, "a") as journal:
                journal.write("\n".join(lines) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
                size = journal.tell()
            if size > max(JOURNAL_FLOOR, JOURNAL_GROWTH * self._snapshot_bytes):
                self._compact()

    def compact(self) -> None:
        """Writes every kept item to the snapshot and empties the journal."""
        with self._disk:
            self._compact()

    def _compact(self) -> None:
        with moto_lock():
            self._dirty, self._lost_track = set(), False
            # Serialised inside the lock: moto changes stored values in place.
            text = json.dumps({logical_id: [item.to_json()["Attributes"] for item in table.all_items()]
                               for logical_id, table in self._kept.items()}, sort_keys=True)
        temporary = self.snapshot_path.with_suffix(".tmp")
        write_private(temporary, text)
        temporary.replace(self.snapshot_path)
        self._snapshot_bytes = len(text)
        # After the snapshot is in place: replaying a journal over it would change nothing.
        self.journal_path.unlink(missing_ok=True)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.snapshot_seconds):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - keep the journal going; the next pass may succeed
                log.exception("saving DynamoDB's changes failed")
