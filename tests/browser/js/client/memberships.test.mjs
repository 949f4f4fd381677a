import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Memberships } from '../../../../web/js/client/memberships.js';
import { FakeClock, fakeConnection, recordEmits } from '../helpers/fakes.mjs';

function make({ cursors = {} } = {}) {
  const clock = new FakeClock();
  const connection = fakeConnection();
  const { emit, events, types } = recordEmits();
  const memberships = new Memberships({ me: 'alice', connection, emit, timers: clock.timers,
    cursorFor: (id) => cursors[id] ?? null, retryDelayMs: 1_000, maxRetries: 2 });
  return { memberships, connection, clock, events, types };
}

test('GET /me/rooms: rooms gone from the answer were left elsewhere, unless joined here since or being joined', () => {
  const { memberships } = make();
  assert.deepEqual(memberships.applyMine({ rooms: [{ id: 'a', name: 'A' }, 'b', 'c'] }), []);
  memberships.live.add('c');
  memberships.pending.add('b');
  assert.deepEqual(memberships.applyMine({ rooms: [] }), ['a']);
  assert.deepEqual([...memberships.joined].sort(), ['c']);
  assert.equal(memberships.rooms.get('a').name, 'A', 'the catalogue keeps the room itself');
});

test('a queued message is refused only for a known non-membership of a room', () => {
  const { memberships } = make();
  assert.equal(memberships.refusal('r1'), null, 'memberships not known yet');
  memberships.applyMine({ rooms: ['r2'], dms: [] });
  assert.equal(memberships.refusal('r1'), 'You are not a member of this room.');
  assert.equal(memberships.refusal('r2'), null);
  assert.equal(memberships.refusal('dm:alice:bob'), null);
  memberships.pending.add('r1');
  assert.equal(memberships.refusal('r1'), null, 'being joined');
});

test('a join sent offline waits; a join resumes after the newest message held', () => {
  const { memberships, connection, types } = make({ cursors: { r1: 'M9' } });
  connection.connected = false;
  assert.equal(memberships.join('r1'), false);
  assert.equal(memberships.isJoining('r1'), true);
  assert.deepEqual(types(), ['rooms']);
  connection.connected = true;
  memberships.rejoinAll();
  assert.deepEqual(connection.frames('join'), [{ action: 'join', room: 'r1', after: 'M9' }]);
  assert.deepEqual(memberships.onJoined({ room: { id: 'r1', name: 'One' } }), { id: 'r1', after: 'M9' });
  assert.equal(memberships.isJoining('r1'), false);
  assert.equal(memberships.canSendNow('r1'), true);
  assert.equal(memberships.join('r1'), true, 'already joined on this connection: nothing to send');
  assert.equal(connection.frames('join').length, 1);
  memberships.connectionLost();
  assert.equal(memberships.canSendNow('r1'), false);
  assert.equal(memberships.canSendNow('dm:alice:bob'), true, 'DMs need no join');
});

test('joins refused while the service is busy are retried, with a growing delay and a limit', () => {
  const { memberships, connection, clock } = make();
  memberships.applyMine({ rooms: ['r1'] });
  memberships.rejoinAll();
  const retry = () => memberships.onJoinError('unavailable');
  retry();
  clock.advance(999);
  assert.equal(connection.frames('join').length, 1);
  clock.advance(1);
  assert.equal(connection.frames('join').length, 2);
  retry();
  clock.advance(2_000);
  assert.equal(connection.frames('join').length, 3);
  retry();
  clock.advance(60_000);
  assert.equal(connection.frames('join').length, 3, 'no more than maxRetries');
});

test('a join refused for another reason frees the room it was for', () => {
  const { memberships } = make();
  memberships.join('nope');
  memberships.onJoinError('not_found');
  assert.equal(memberships.isJoining('nope'), false);
  assert.equal(memberships.requests.size, 0);
});

test('DMs: none with oneself; newest first, then by name; titled by the other user', () => {
  const { memberships } = make();
  assert.equal(memberships.startDm('ALICE'), null);
  assert.equal(memberships.startDm('Bob'), 'dm:alice:bob');
  memberships.addDm('dm:alice:carol', 'Carol');
  memberships.addDm('dm:alice:dave', 'Dave');
  const newest = { 'dm:alice:dave': '02', 'dm:alice:bob': '01' };
  assert.deepEqual(memberships.dmList((id) => newest[id]).map((dm) => dm.user), ['Dave', 'Bob', 'Carol']);
  assert.deepEqual(memberships.describe('dm:alice:bob'), { kind: 'dm', title: 'Bob', peer: 'Bob', description: '' });
  assert.equal(memberships.dmUser('dm:alice:erin'), 'erin', 'an unknown DM falls back to the id');
});
