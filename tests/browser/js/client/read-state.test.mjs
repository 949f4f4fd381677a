import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadMarkers } from '../../../../web/js/client/read-state.js';
import { MemoryStorage } from '../../../../web/js/storage.js';
import { message, ulid } from '../helpers/fakes.mjs';

const messages = [1, 2, 3].map((n) => message(n));

test('the backlog of a first page counts as read; messages that arrived before it do not', () => {
  const read = new ReadMarkers({ storage: new MemoryStorage(), me: 'alice' });
  read.firstLoad('r1', false, ulid(3));
  assert.equal(read.unread('r1', messages), 0);
  read.firstLoad('r2', true, ulid(3));
  assert.equal(read.unread('r2', messages), 3);
  read.firstLoad('r1', true, ulid(3));
  assert.equal(read.unread('r1', messages), 0, 'a marker, once set, is not reset by a later first page');
});

test('markers are per user, survive a restart, and only move forward to something new', () => {
  const storage = new MemoryStorage();
  const read = new ReadMarkers({ storage, me: 'Alice' });
  assert.equal(read.markRead('r1', ulid(2)), true);
  assert.equal(read.markRead('r1', ulid(2)), false);
  assert.equal(read.markRead('r1', null), false);
  assert.equal(new ReadMarkers({ storage, me: 'alice' }).unread('r1', messages), 1);
  assert.equal(new ReadMarkers({ storage, me: 'dave' }).unread('r1', messages), 3);
  storage.setItem('chat.read.carol', '[1]');
  assert.deepEqual(new ReadMarkers({ storage, me: 'carol' }).markers, {}, 'a damaged record is ignored');
});

test('a DM started while away is all unread, and does not override a marker', () => {
  const read = new ReadMarkers({ storage: new MemoryStorage(), me: 'alice' });
  read.startUnread('dm:alice:bob');
  assert.equal(read.unread('dm:alice:bob', messages), 3);
  read.markRead('dm:alice:bob', ulid(3));
  read.startUnread('dm:alice:bob');
  assert.equal(read.unread('dm:alice:bob', messages), 0);
});
