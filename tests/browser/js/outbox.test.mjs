import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, frameFor } from '../../../web/js/outbox.js';

test('queued messages are due in order and keep their client_id when re-sent', () => {
  const outbox = new Outbox();
  outbox.add({ clientId: 'c1', conv: 'r1', text: 'one', createdAt: 1 });
  outbox.add({ clientId: 'c2', conv: 'r1', text: 'two', createdAt: 2 });
  assert.deepEqual(outbox.due({ now: 10 }).map((i) => i.clientId), ['c1', 'c2']);
  outbox.markSent('c1', 10);
  outbox.markSent('c2', 10);
  assert.equal(outbox.due({ now: 11, resendAfterMs: 1000 }).length, 0, 'sent: not due until overdue');
  assert.deepEqual(outbox.due({ now: 1010, resendAfterMs: 1000 }).map((i) => i.clientId), ['c1', 'c2']);
  // reconnect: everything in flight goes again, same ids
  outbox.requeueSent();
  const again = outbox.due({ now: 12 });
  assert.deepEqual(again.map((i) => i.clientId), ['c1', 'c2']);
  assert.deepEqual(again.map((i) => frameFor(i).client_id), ['c1', 'c2']);
});

test('the echo confirms once; an unknown echo changes nothing', () => {
  const outbox = new Outbox();
  outbox.add({ clientId: 'c1', conv: 'r1', text: 'one' });
  assert.equal(outbox.confirm('c1').text, 'one');
  assert.equal(outbox.confirm('c1'), null);
  assert.equal(outbox.confirm('other'), null);
  assert.equal(outbox.items.length, 0);
});

test('canSend holds back conversations that cannot take messages yet', () => {
  const outbox = new Outbox();
  outbox.add({ clientId: 'a', conv: 'r1', text: 'x' });
  outbox.add({ clientId: 'b', conv: 'dm:a:b', text: 'y', to: 'b' });
  const due = outbox.due({ canSend: (conv) => conv.startsWith('dm:') });
  assert.deepEqual(due.map((i) => i.clientId), ['b']);
});

test('failed messages stay until retried or discarded', () => {
  const outbox = new Outbox();
  outbox.add({ clientId: 'c1', conv: 'r1', text: 'x' });
  outbox.fail('c1', 'Too long');
  assert.equal(outbox.due().length, 0);
  assert.equal(outbox.get('c1').error, 'Too long');
  outbox.retry('c1');
  assert.equal(outbox.due().length, 1);
  outbox.discard('c1');
  assert.equal(outbox.items.length, 0);
});

test('a saved outbox comes back with in-flight items queued again', () => {
  const outbox = new Outbox();
  outbox.add({ clientId: 'c1', conv: 'r1', text: 'x' });
  outbox.add({ clientId: 'c2', conv: 'r1', text: 'y' });
  outbox.markSent('c1');
  outbox.fail('c2', 'no');
  const restored = new Outbox(JSON.parse(JSON.stringify(outbox)));
  assert.deepEqual(restored.items.map((i) => [i.clientId, i.state]), [['c1', 'queued'], ['c2', 'failed']]);
  assert.equal(new Outbox([null, { clientId: 1 }, 'x']).items.length, 0);
});

test('frames: send for rooms, dm for direct messages', () => {
  assert.deepEqual(frameFor({ clientId: 'c', conv: 'room1', text: 'hi' }),
    { action: 'send', room: 'room1', text: 'hi', client_id: 'c' });
  assert.deepEqual(frameFor({ clientId: 'c', conv: 'dm:alice:bob', text: 'hi', to: 'Bob' }),
    { action: 'dm', to: 'Bob', text: 'hi', client_id: 'c' });
});
