import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConversationLog, compareIds, mergeMessages, unreadCount } from '../../../web/js/messages.js';
import { message, ulid } from './helpers/fakes.mjs';

const ids = (list) => list.map((m) => m.id);

test('ULID ids compare in time order', () => {
  assert.equal(compareIds(ulid(1), ulid(2)), -1);
  assert.equal(compareIds(ulid(2), ulid(1)), 1);
  assert.equal(compareIds(ulid(2), ulid(2)), 0);
  assert.equal(compareIds('01ARZ3NDEKTSV4RRFFQ69G5FAV', '01BX5ZZKBKACTAV9WEVGEMMVRZ'), -1);
});

test('merge appends live messages, prepends history and sorts anything else', () => {
  let { list, added } = mergeMessages([], [message(3), message(1), message(2)]);
  assert.deepEqual(ids(list), [ulid(1), ulid(2), ulid(3)]);
  assert.equal(added.length, 3);
  ({ list } = mergeMessages(list, [message(5), message(4)]));
  assert.deepEqual(ids(list), [1, 2, 3, 4, 5].map(ulid));
  ({ list } = mergeMessages(list, [message(0)]));
  assert.equal(list[0].id, ulid(0));
  ({ list, added } = mergeMessages([message(1), message(5)], [message(3), message(7), message(0)]));
  assert.deepEqual(ids(list), [0, 1, 3, 5, 7].map(ulid));
  assert.deepEqual(ids(added), [0, 3, 7].map(ulid));
});

test('merge drops duplicates, within the batch and against what is held', () => {
  const first = mergeMessages([], [message(1), message(2)]);
  const again = mergeMessages(first.list, [message(2), message(2), message(3), message(1)]);
  assert.deepEqual(ids(again.list), [1, 2, 3].map(ulid));
  assert.deepEqual(ids(again.added), [ulid(3)]);
  const nothing = mergeMessages(again.list, [message(3)]);
  assert.equal(nothing.list, again.list, 'unchanged list is returned as is');
  assert.equal(nothing.added.length, 0);
});

test('merge ignores things that are not messages', () => {
  const { list } = mergeMessages([], [null, {}, { id: '' }, 'x', message(1)]);
  assert.deepEqual(ids(list), [ulid(1)]);
});

test('a reconnect catch-up shows what was missed once, in order', () => {
  const log = new ConversationLog();
  log.add([message(1), message(2), message(3)]);
  // live frames that raced with the rejoin, then the rejoin's page after message 3
  log.add([message(5)]);
  const added = log.add([message(4), message(5), message(6)]);
  assert.deepEqual(ids(added), [ulid(4), ulid(6)]);
  assert.deepEqual(ids(log.messages), [1, 2, 3, 4, 5, 6].map(ulid));
  assert.equal(log.newestId, ulid(6));
  assert.equal(log.oldestId, ulid(1));
});

test('unread counts messages from others after the marker', () => {
  const list = [message(1), message(2, { sender: 'Alice' }), message(3), message(4)];
  assert.equal(unreadCount(list, ulid(2), 'alice'), 2);
  assert.equal(unreadCount(list, ulid(4), 'alice'), 0);
  assert.equal(unreadCount(list, '', 'alice'), 3, 'no marker: every message from others');
  assert.equal(unreadCount(list, undefined, 'ALICE'), 3);
  assert.equal(unreadCount([], ulid(1), 'alice'), 0);
});

test('clear forgets messages and paging state', () => {
  const log = new ConversationLog();
  log.add([message(1)]);
  log.loaded = true;
  log.hasOlder = true;
  log.clear();
  assert.equal(log.messages.length, 0);
  assert.equal(log.loaded, false);
  assert.equal(log.hasOlder, null);
  assert.equal(log.newestId, null);
});
