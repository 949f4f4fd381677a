import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendQueue } from '../../../../web/js/client/send-queue.js';
import { MemoryStorage } from '../../../../web/js/storage.js';
import { FakeClock, fakeConnection, recordEmits } from '../helpers/fakes.mjs';

function make({ storage = new MemoryStorage(), live = new Set(['r1']), refused = new Set() } = {}) {
  const clock = new FakeClock();
  const connection = fakeConnection();
  const { emit, events } = recordEmits();
  const queue = new SendQueue({ storage, me: 'alice', connection, emit, now: clock.now, resendAfterMs: 15_000,
    canSendNow: (conv) => conv.startsWith('dm:') || live.has(conv),
    refusal: (conv) => (refused.has(conv) ? 'Not a member.' : null) });
  return { queue, connection, clock, events, storage };
}

const add = (queue, clientId, conv, to = null) => queue.add({ clientId, conv, text: clientId, to, createdAt: 0 });

test('flush: refused rooms fail, rooms not joined on this connection wait, the rest goes', () => {
  const { queue, connection, events } = make({ refused: new Set(['gone']) });
  add(queue, 'a', 'gone');
  add(queue, 'b', 'r2');
  add(queue, 'c', 'r1');
  add(queue, 'd', 'dm:alice:bob', 'Bob');
  events.length = 0;
  queue.flush();
  assert.deepEqual(connection.sent.map((frame) => frame.client_id), ['c', 'd']);
  assert.equal(queue.forConversation('gone')[0].error, 'Not a member.');
  assert.equal(queue.forConversation('r2')[0].state, 'queued');
  assert.deepEqual(events, [['outbox', 'gone'], ['outbox', 'r1'], ['outbox', 'dm:alice:bob']]);
  assert.equal(queue.waitingCount(), 3);
  assert.equal(queue.recipientOf('d'), 'Bob');
});

test('an unconfirmed message goes again when its echo is overdue, and after a reconnect', () => {
  const { queue, connection, clock } = make();
  add(queue, 'a', 'r1');
  queue.flush();
  queue.flush();
  assert.equal(connection.sent.length, 1);
  clock.advance(15_000);
  queue.flush();
  queue.requeue();
  queue.flush();
  assert.deepEqual(connection.sent.map((frame) => frame.client_id), ['a', 'a', 'a']);
  queue.confirm('a');
  assert.equal(queue.waitingCount(), 0);
});

test('the outbox survives a reload of the tab and is gone after logout', () => {
  const storage = new MemoryStorage();
  const first = make({ storage }).queue;
  add(first, 'a', 'r1');
  assert.equal(make({ storage }).queue.forConversation('r1')[0].clientId, 'a');
  first.forget();
  assert.equal(make({ storage }).queue.forConversation('r1').length, 0);
});

test('leaving a room fails what waited for it; a refusal of a message that is not ours is ignored', () => {
  const { queue } = make();
  add(queue, 'a', 'r1');
  queue.failConversation('r1', 'You left this room.');
  assert.equal(queue.forConversation('r1')[0].state, 'failed');
  assert.equal(queue.fail('other', 'no'), false);
  assert.equal(queue.retry('a'), true);
  queue.discard('a');
  assert.equal(queue.forConversation('r1').length, 0);
});
