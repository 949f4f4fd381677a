"""One lock around moto's DynamoDB operations, for every in-process use of moto.

DynamoDB applies each request atomically. moto checks and writes in separate steps and
its server handles requests on many threads: a TransactWriteItems deep-copies tables that
another write is changing ("dictionary changed size during iteration", a 500), and two
conditional writes can both pass their check. Serialising moto's table operations gives
the stand-in DynamoDB's atomicity, which the local server and the concurrency tests rely on.
"""
import threading

from moto.dynamodb.models import DynamoDBBackend

OPERATIONS = ("get_item", "query", "scan", "batch_get_item", "batch_write_item", "put_item", "update_item",
              "delete_item", "transact_write_items", "transact_get_items", "execute_statement",
              "execute_transaction", "batch_execute_statement")
_lock = threading.RLock()


def make_moto_atomic() -> None:
    """Idempotent: wraps each operation once."""
    for name in OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "atomic", False):
            continue

        def atomic(*args, _method=method, **kwargs):
            with _lock:
                return _method(*args, **kwargs)
        atomic.atomic = True
        setattr(DynamoDBBackend, name, atomic)


def moto_lock() -> threading.RLock:
    """The lock every operation holds: for reading moto's tables directly in between."""
    return _lock
