"""moto's DynamoDB with costs that do not grow with the stored data.

moto stays the engine (its parsing, validation, conditions, update expressions and errors),
but three of its steps cost in proportion to everything stored:

- TransactWriteItems deep-copies every table it touches, to restore it if the transaction
  is cancelled. Here it keeps a copy of only the items it writes (their before-images).
- Query sorts the whole table (`Table.all_items`) and, for an index, walks every item.
  Here each table keeps its partitions' sort keys and each global secondary index its
  entries in order, updated on every write; a Query hands moto only the items it can
  return (the key condition's interval, after ExclusiveStartKey, Limit + 1 of them) and
  moto's own Query code runs on them, so its answers, paging keys and counts stay moto's.
- Nothing told anyone which items changed, so keeping them on disk meant scanning every
  table. `watch` calls back with each changed key.

Every operation runs under moto_lock's lock; the ordered views are changed only inside it.
`uninstall` puts moto back as it was (the tests compare both on the same cases).
"""
import bisect
import copy
import weakref
from operator import itemgetter
from typing import Any, Callable

from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table

from .moto_lock import make_moto_atomic

Key = tuple[DynamoType, DynamoType | None]
Listener = Callable[[Table, Key | None], None]

_first = itemgetter(0)
_views: "weakref.WeakKeyDictionary[Table, _Views]" = weakref.WeakKeyDictionary()
_listeners: "weakref.WeakKeyDictionary[Table, list[Listener]]" = weakref.WeakKeyDictionary()
_originals: dict[tuple[type, str], Any] = {}


def _range_bounds(keys: list, get: Callable, comparison: str | None, values: list[DynamoType]) -> tuple[int, int]:
    """The interval of `keys` (ascending by `get`) that a key condition's sort-key part can
    match: exact for the comparisons DynamoDB allows there, the whole list otherwise (moto
    then checks each item itself)."""
    low, high = 0, len(keys)
    if not comparison:
        return low, high
    operator = comparison.upper()
    casts = [value.cast_value for value in values]
    try:
        if operator in ("=", "EQ"):
            return bisect.bisect_left(keys, casts[0], key=get), bisect.bisect_right(keys, casts[0], key=get)
        if operator in ("<", "LT"):
            return low, bisect.bisect_left(keys, casts[0], key=get)
        if operator in ("<=", "LE"):
            return low, bisect.bisect_right(keys, casts[0], key=get)
        if operator in (">", "GT"):
            return bisect.bisect_right(keys, casts[0], key=get), high
        if operator in (">=", "GE"):
            return bisect.bisect_left(keys, casts[0], key=get), high
        if operator == "BETWEEN":
            low = bisect.bisect_left(keys, casts[0], key=get)
            return low, max(low, bisect.bisect_right(keys, casts[1], key=get))
        if operator == "BEGINS_WITH":
            # Keys with the prefix sort together, right from the prefix itself.
            low = high = bisect.bisect_left(keys, casts[0], key=get)
            while high < len(keys) and get(keys[high]).startswith(casts[0]):
                high += 1
            return low, high
    except (TypeError, IndexError, AttributeError):  # a value of another type: moto answers
        pass
    return 0, len(keys)


class _Index:
    """One global secondary index in moto's Query order: entries (sort values, table key)
    per index partition, sorted as moto's `Table.sorted_items` sorts them."""

    def __init__(self, table: Table, index: GlobalSecondaryIndex):
        hash_name = next(key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH")
        ranges = [key["AttributeName"] for key in index.schema if key["KeyType"] == "RANGE"]
        self.name, self.hash_name = index.name, hash_name
        self.range_name = ranges[0] if ranges else None
        # As moto's Table.query builds them for an index with one hash and at most one range key.
        self.hash_attrs = [hash_name, table.hash_key_attr]
        if self.range_name:
            self.range_attrs = [self.range_name, table.range_key_attr]
        else:
            self.range_attrs = [table.range_key_attr or table.hash_key_attr, table.range_key_attr]
        self.sort_attrs = table._generate_attr_to_sort_by(self.hash_attrs, self.range_attrs)
        self.partitions: dict[DynamoType, list[tuple]] = {}

    def entry(self, item: Item | None, key: Key) -> tuple[DynamoType, tuple] | None:
        if item is None or item.attrs.get(self.hash_name) is None:
            return None
        if self.range_name and item.attrs.get(self.range_name) is None:
            return None  # moto's Query leaves out items without the index's range key
        try:
            values = tuple(item.attrs[name].cast_value for name in self.sort_attrs)
        except KeyError:
            return None
        return item.attrs[self.hash_name], (values, key)

    def move(self, before: tuple | None, after: tuple | None) -> None:
        if before == after:
            return
        if before is not None:
            entries = self.partitions[before[0]]
            del entries[bisect.bisect_left(entries, before[1][0], key=_first)]
            if not entries:
                del self.partitions[before[0]]
        if after is not None:
            bisect.insort(self.partitions.setdefault(after[0], []), after[1], key=_first)


class _Views:
    """A table's partitions' sort keys and its indexes, in order, kept up to date by every
    write (see _changed)."""

    def __init__(self, table: Table):
        self.table = table
        self.partitions: dict[DynamoType, list[tuple]] = {}
        self.indexes = {index.name: _Index(table, index) for index in table.global_indexes or []
                        if isinstance(index, GlobalSecondaryIndex) and _simple(index)}
        self.placed: dict[Key, dict[str, tuple]] = {}
        for hash_key, stored in list(table.items.items()):
            if table.range_key_attr:
                for range_key in list(stored):
                    self.refresh((hash_key, range_key))
            else:
                self.refresh((hash_key, None))

    def item(self, key: Key) -> Item | None:
        hash_key, range_key = key
        stored = self.table.items.get(hash_key)
        if range_key is None or stored is None:
            return stored
        return stored.get(range_key)

    def refresh(self, key: Key) -> None:
        hash_key, range_key = key
        item = self.item(key)
        if range_key is not None:
            keys = self.partitions.get(hash_key)
            cast = range_key.cast_value
            at = bisect.bisect_left(keys, cast, key=_first) if keys else 0
            present = bool(keys) and at < len(keys) and keys[at][0] == cast
            if item is not None and not present:
                self.partitions.setdefault(hash_key, []).insert(at, (cast, range_key))
            elif item is None and present:
                del keys[at]
                if not keys:
                    del self.partitions[hash_key]
        placed = self.placed.pop(key, {})
        now = {}
        for name, index in self.indexes.items():
            entry = index.entry(item, key)
            index.move(placed.get(name), entry)
            if entry is not None:
                now[name] = entry
        if now:
            self.placed[key] = now

    def candidates(self, hash_key, comparison, values, limit, start_key, forward, index_name,
                   consistent_read, hash_conditions, range_conditions, filters) -> list[Item] | None:
        """The items moto's Query could return, ascending; None when moto should look itself."""
        table = self.table
        if filters or (range_conditions and len(range_conditions) > 1):
            return None
        if index_name is None:
            if hash_key is None:
                return None
            if not table.range_key_attr:
                item = table.items.get(hash_key)
                return [item] if isinstance(item, Item) else []
            if range_conditions and range_conditions[0][0] != table.range_key_attr:
                return None
            entries = self.partitions.get(hash_key, [])
            low, high = _range_bounds(entries, _first, comparison, values)
            hash_attrs, range_attrs = [table.hash_key_attr], [table.range_key_attr]

            def item_at(position):
                return table.items[hash_key][entries[position][1]]
        else:
            index = self.indexes.get(index_name)
            if index is None or consistent_read or not hash_conditions or len(hash_conditions) != 1:
                return None
            name, value = hash_conditions[0]
            if name != index.hash_name or (comparison and not index.range_name):
                return None
            if range_conditions and range_conditions[0][0] != index.range_name:
                return None
            entries = index.partitions.get(value, [])
            low, high = _range_bounds(entries, lambda entry: entry[0][1], comparison, values)
            hash_attrs, range_attrs = index.hash_attrs, index.range_attrs

            def item_at(position):
                return self.item(entries[position][1])
        if start_key is not None:
            sort_attrs = table._generate_attr_to_sort_by(hash_attrs, range_attrs)
            if any(name not in start_key for name in sort_attrs):
                return None

            def before_start(position):  # moto's own test, which is monotonic along the order
                return table._item_comes_before_dct(item_at(position), start_key, hash_attrs, range_attrs, forward)
            if forward:
                low = _first_where(low, high, lambda position: not before_start(position))
            else:
                high = _first_where(low, high, before_start)
        if limit is not None:
            # moto gives a LastEvaluatedKey when any item of the partition follows the last
            # one it returns, matching the key condition or not: hand it that one too.
            if forward:
                high = min(low + limit + 1, high if high - low > limit else high + 1, len(entries))
            else:
                low = max(high - limit - 1, low if high - low > limit else low - 1, 0)
        return [item_at(position) for position in range(low, high)]


def _first_where(low: int, high: int, test: Callable[[int], bool]) -> int:
    """The first position in [low, high) where `test` holds, `test` being false then true."""
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _simple(index) -> bool:
    kinds = [key["KeyType"] for key in index.schema]
    return kinds.count("HASH") == 1 and kinds.count("RANGE") <= 1


def _views_of(table: Table) -> _Views:
    views = _views.get(table)
    if views is None:
        views = _views[table] = _Views(table)
    return views


def _changed(table: Table, key: Key) -> None:
    views = _views.get(table)
    if views is not None:
        views.refresh(key)
    for listener in _listeners.get(table, ()):
        listener(table, key)


def watch(table: Table, listener: Listener) -> None:
    """Calls `listener(table, (hash, range))` after each change of an item of `table`, and
    `listener(table, None)` when something changed that it cannot name (a PartiQL statement)."""
    _views_of(table)
    _listeners.setdefault(table, []).append(listener)


def item_at(table: Table, key: Key) -> Item | None:
    return _views_of(table).item(key)


class _Narrowed:
    """The table as moto's Query sees it, holding only the candidates."""

    def __init__(self, table: Table, items: list[Item]):
        self._table, self._items = table, items

    def all_items(self) -> list[Item]:
        return self._items

    def __getattr__(self, name):
        return getattr(self._table, name)


def _query(self: Table, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
           projection_expressions, index_name=None, consistent_read=False, filter_expression=None,
           hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
    original = _originals[(Table, "query")]
    arguments = (hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                 projection_expressions, index_name, consistent_read, filter_expression)
    found = _views_of(self).candidates(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                                       scan_index_forward, index_name, consistent_read, hash_key_conditions,
                                       range_key_conditions, filter_kwargs)
    target = self if found is None else _Narrowed(self, found)
    return original(target, *arguments, hash_key_conditions=hash_key_conditions,
                    range_key_conditions=range_key_conditions, **filter_kwargs)


def _put_item(self: Table, *args, **kwargs) -> Item:
    item = _originals[(Table, "put_item")](self, *args, **kwargs)
    _changed(self, (item.hash_key, item.range_key))
    return item


def _delete_item(self: Table, hash_key, range_key) -> Item | None:
    item = _originals[(Table, "delete_item")](self, hash_key, range_key)
    _changed(self, (hash_key, range_key))
    return item


def _key_of(table: Table, key: dict) -> Key | None:
    try:
        hash_key = DynamoType(key[table.hash_key_attr])
        return hash_key, DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


def _update_item(self: DynamoDBBackend, table_name: str, key: dict, *args, **kwargs) -> Item:
    # moto changes the stored Item in place, and may have changed it when it then raises.
    try:
        return _originals[(DynamoDBBackend, "update_item")](self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        changed = table is not None and _key_of(table, key)
        if changed:
            _changed(table, changed)


def _restore(undo: list[tuple[Table, Key, Item | None]]) -> None:
    for table, key, before in reversed(undo):
        hash_key, range_key = key
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        else:
            stored = table.items.get(hash_key)
            if before is not None:
                table.items[hash_key][range_key] = before
            elif stored is not None:
                stored.pop(range_key, None)
                if not stored:
                    del table.items[hash_key]
        _changed(table, key)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, step for step, with the before-images of the items it
    writes where moto deep-copies whole tables, and cancelled as a whole on any error
    (moto keeps the writes before an item that names two operations)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo: list[tuple[Table, Key, Item | None]] = []
    try:
        errors = _apply(self, transact_items, undo)
    except BaseException:
        _restore(undo)
        raise
    if any(code is not None for code, _, _ in errors):
        _restore(undo)
        raise TransactionCanceledException(errors)


def _apply(self: DynamoDBBackend, transact_items: list[dict[str, Any]], undo: list) -> list[tuple]:
    target_items: set[tuple[str, str]] = set()
    errors: list[tuple] = []
    for entry in transact_items:
        original_item = None
        if len(list(entry.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            unique = (str(table_name), str(dict(sorted(key.items()))))
            if unique in target_items:
                raise MultipleTransactionsException()
            target_items.add(unique)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition = get_filter_expression(condition_expression, names, values)
                if not condition.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                table = self.get_table(table_name)
                undo.append((table, self.get_keys_value(table, key), copy.deepcopy(current)))
            if op_type == "Put":
                self.put_item(table_name, op["Item"], condition_expression=condition_expression,
                              expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                self.delete_item(table_name, key, condition_expression=condition_expression,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                 condition_expression=condition_expression, expression_attribute_names=names,
                                 expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))
        except Exception as error:  # noqa: BLE001 - moto reports any other failure as the item's reason
            errors.append((type(error).__name__, str(error), original_item))
    return errors


def _statement(name: str):
    """PartiQL changes items without telling which: rebuild the views, tell the listeners."""
    def run(self: DynamoDBBackend, *args, **kwargs):
        try:
            return _originals[(DynamoDBBackend, name)](self, *args, **kwargs)
        finally:
            for table in list(self.tables.values()):
                if _views.pop(table, None) is not None:
                    _views_of(table)
                for listener in _listeners.get(table, ()):
                    listener(table, None)
    return run


_PATCHES = {
    (Table, "query"): _query,
    (Table, "put_item"): _put_item,
    (Table, "delete_item"): _delete_item,
    (DynamoDBBackend, "update_item"): _update_item,
    (DynamoDBBackend, "transact_write_items"): _transact_write_items,
    **{(DynamoDBBackend, name): _statement(name)
       for name in ("execute_statement", "execute_transaction", "batch_execute_statement")},
}


def install() -> None:
    """Idempotent. Patches moto's classes for the whole process, inside moto_lock's lock."""
    # A method moto_lock already wrapped is kept wrapped inside the replacement (its lock is
    # re-entrant); the replacement gets wrapped in turn.
    if not _originals:
        for (owner, name), replacement in _PATCHES.items():
            _originals[(owner, name)] = owner.__dict__[name]
            setattr(owner, name, replacement)
    make_moto_atomic()


def uninstall() -> None:
    """moto as it was, still atomic; the views and listeners are dropped."""
    if _originals:
        for (owner, name), original in _originals.items():
            setattr(owner, name, original)
        _originals.clear()
        _views.clear()
        _listeners.clear()
    make_moto_atomic()


def installed() -> bool:
    return bool(_originals)
