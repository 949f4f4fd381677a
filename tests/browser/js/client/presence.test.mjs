import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Presence } from '../../../../web/js/client/presence.js';
import { FakeClock, fakeApi, fakeConnection, recordEmits, settle } from '../helpers/fakes.mjs';

function make(api = fakeApi()) {
  const clock = new FakeClock();
  const connection = fakeConnection();
  const { emit, events, types } = recordEmits();
  const presence = new Presence({ api, me: 'alice', connection, emit, now: clock.now, timers: clock.timers,
    refreshDelayMs: 1_000 });
  return { presence, api, connection, clock, events, types };
}

test('someone present in a room is online at once; the online list is then refreshed once', async () => {
  const { presence, api, clock } = make();
  presence.setMembers('r1', ['alice']);
  presence.onPresence({ type: 'presence', room: 'r1', user: 'zed', status: 'joined' });
  presence.onPresence({ type: 'presence', room: { id: 'r1' }, user: 'Bob', status: 'joined' });
  assert.deepEqual(presence.online, ['Bob', 'zed']);
  assert.deepEqual(presence.membersOf('r1'), ['alice', 'Bob', 'zed']);
  clock.advance(1_000);
  await settle();
  assert.deepEqual(api.calls, ['onlineUsers'], 'one refresh for a burst of presence frames');
  assert.deepEqual(presence.online, [], 'the server has the last word');
});

test('someone leaving a room is no longer a member there, nor typing', () => {
  const { presence, clock } = make();
  presence.setMembers('r1', ['alice', 'Bob']);
  presence.onTyping({ type: 'typing', room: 'r1', user: 'Bob' });
  presence.onPresence({ type: 'presence', room: 'r1', user: 'bob', status: 'left' });
  assert.deepEqual(presence.membersOf('r1'), ['alice']);
  assert.deepEqual(presence.typingIn('r1'), []);
  clock.advance(1_000);
});

test('typing: our own frames are ignored; the view hears when someone stops', () => {
  const { presence, clock, events } = make();
  presence.onTyping({ type: 'typing', room: 'r1', user: 'ALICE' });
  assert.deepEqual(events, []);
  presence.onTyping({ type: 'typing', room: 'r1', user: 'bob' });
  assert.deepEqual(presence.typingIn('r1'), ['bob']);
  clock.advance(6_100);
  assert.deepEqual(events, [['typing', 'r1'], ['typing', null]]);
  assert.deepEqual(presence.typingIn('r1'), []);
});

test('our typing frames: at most one per interval, at once again after a message', () => {
  const { presence, connection } = make();
  assert.equal(presence.notifyTyping('r1'), true);
  assert.equal(presence.notifyTyping('r1'), false);
  presence.sentMessage('r1');
  assert.equal(presence.notifyTyping('r1'), true);
  assert.deepEqual(connection.frames('typing'), [{ action: 'typing', room: 'r1' }, { action: 'typing', room: 'r1' }]);
});

test('member lists belong to a connection', () => {
  const { presence, events } = make();
  presence.setMembers('r1', ['alice']);
  presence.connectionLost();
  assert.deepEqual(presence.membersOf('r1'), []);
  assert.deepEqual(events.at(-1), ['members', null]);
});
