import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ChatClient } from '../../../web/js/chat-client.js';
import { Connection } from '../../../web/js/connection.js';
import { MemoryStorage } from '../../../web/js/storage.js';
import { FakeClock, FakeWebSocket, fakeApi, message, settle, ulid } from './helpers/fakes.mjs';

beforeEach(() => FakeWebSocket.reset());

function makeClient({ api = fakeApi(), me = 'alice', persistent = new MemoryStorage(), session = new MemoryStorage() } = {}) {
  const clock = new FakeClock();
  let n = 0;
  const client = new ChatClient({
    api,
    user: { username: me },
    persistent,
    session,
    now: clock.now,
    uuid: () => `cid-${++n}`,
    timers: clock.timers,
    createConnection: (handlers) => new Connection({ url: () => 'ws://h/ws', WebSocketImpl: FakeWebSocket,
      timers: clock.timers, now: clock.now, random: () => 1, ...handlers }),
  });
  return { client, clock, api, persistent, session };
}

async function started(options) {
  const ctx = makeClient(options);
  ctx.client.start();
  await settle();
  FakeWebSocket.last().open();
  await settle();
  return ctx;
}

const room = { id: 'r1', name: 'General', description: '' };

test('on connect it joins the rooms the user is a member of and loads DMs', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [{ id: 'dm:alice:bob', user: 'Bob' }] };
  const { client } = await started({ api });
  const ws = FakeWebSocket.last();
  assert.deepEqual(ws.frames('join'), [{ action: 'join', room: 'r1' }]);
  assert.deepEqual(ws.frames('history'), [{ action: 'history', room: 'dm:alice:bob' }]);
  ws.receive({ type: 'joined', room, messages: [message(1), message(2)], more: true, members: ['alice', 'bob'] });
  ws.receive({ type: 'history', room: 'dm:alice:bob', messages: [message(3, { room: 'dm:alice:bob' })], more: false });
  assert.deepEqual(client.history.log('r1').messages.map((m) => m.id), [ulid(1), ulid(2)]);
  assert.equal(client.history.log('r1').hasOlder, true);
  assert.deepEqual(client.presence.membersOf('r1'), ['alice', 'bob']);
  assert.equal(client.unread('r1'), 0, 'the backlog at first load counts as read');
  assert.equal(client.memberships.describe('dm:alice:bob').title, 'Bob');
});

test('after a drop it rejoins with after = the last id seen and shows the missed messages once, in order', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = await started({ api });
  let ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(1), message(2)], more: false, members: ['alice'] });
  ws.receive({ type: 'message', message: message(3) });
  ws.drop();
  assert.equal(client.status, 'reconnecting');
  clock.advance(clock.pending()[0]);
  ws = FakeWebSocket.last();
  ws.open();
  await settle();
  assert.deepEqual(ws.frames('join'), [{ action: 'join', room: 'r1', after: ulid(3) }]);
  // a live message can race the joined frame; the catch-up repeats it
  ws.receive({ type: 'message', message: message(6) });
  ws.receive({ type: 'joined', room, messages: [message(4), message(5), message(6)], more: false, members: ['alice'] });
  assert.deepEqual(client.history.log('r1').messages.map((m) => m.id), [1, 2, 3, 4, 5, 6].map(ulid));
  assert.equal(client.unread('r1'), 4, 'missed messages in a room that is not open are unread');
});

test('a long outage is caught up page by page with history after', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = await started({ api });
  let ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(1)], more: false, members: [] });
  ws.drop();
  clock.advance(clock.pending()[0]);
  ws = FakeWebSocket.last();
  ws.open();
  await settle();
  ws.receive({ type: 'joined', room, messages: [message(2), message(3)], more: true, members: [] });
  assert.deepEqual(ws.frames('history'), [{ action: 'history', room: 'r1', after: ulid(3) }]);
  ws.receive({ type: 'history', room: 'r1', messages: [message(4)], more: false });
  assert.deepEqual(client.history.log('r1').messages.map((m) => m.id), [1, 2, 3, 4].map(ulid));
});

test('messages written offline are queued, sent once joined, and confirmed by the echo', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock, session } = await started({ api });
  let ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(1)], more: false, members: [] });
  client.open('r1');
  ws.drop();
  const { item } = client.sendMessage('  written offline  ');
  assert.equal(item.text, 'written offline');
  assert.equal(client.sending.forConversation('r1')[0].state, 'queued');
  assert.match(session.getItem('chat.outbox.alice'), /written offline/, 'kept across a reload');
  clock.advance(clock.pending()[0]);
  ws = FakeWebSocket.last();
  ws.open();
  await settle();
  assert.equal(ws.frames('send').length, 0, 'not before the room is joined on this connection');
  ws.receive({ type: 'joined', room, messages: [], more: false, members: ['alice'] });
  assert.deepEqual(ws.frames('send'), [{ action: 'send', room: 'r1', text: 'written offline', client_id: 'cid-1' }]);
  // the echo confirms it
  ws.receive({ type: 'message', message: message(2, { sender: 'alice', text: 'written offline', client_id: 'cid-1' }) });
  assert.equal(client.sending.forConversation('r1').length, 0);
  assert.equal(client.history.log('r1').messages.length, 2);
  // a repeated echo (a retry that the server answered twice) changes nothing
  ws.receive({ type: 'message', message: message(2, { sender: 'alice', text: 'written offline', client_id: 'cid-1' }) });
  assert.equal(client.history.log('r1').messages.length, 2);
});

test('an unconfirmed message is re-sent with the same client_id after a reconnect', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = await started({ api });
  let ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [], more: false, members: [] });
  client.open('r1');
  client.sendMessage('hello');
  assert.equal(ws.frames('send').length, 1);
  ws.drop(); // no echo came
  clock.advance(clock.pending()[0]);
  ws = FakeWebSocket.last();
  ws.open();
  await settle();
  ws.receive({ type: 'joined', room, messages: [], more: false, members: [] });
  assert.deepEqual(ws.frames('send').map((f) => f.client_id), ['cid-1']);
});

test('DMs: sent with the dm action, a new incoming DM appears with an unread count', async () => {
  const { client } = await started();
  const ws = FakeWebSocket.last();
  const id = client.startDm('Bob');
  assert.equal(id, 'dm:alice:bob');
  assert.deepEqual(ws.frames('history'), [{ action: 'history', room: 'dm:alice:bob' }]);
  client.sendMessage('hi bob');
  assert.deepEqual(ws.frames('dm'), [{ action: 'dm', to: 'Bob', text: 'hi bob', client_id: 'cid-1' }]);
  client.open(null);
  ws.receive({ type: 'message', message: message(5, { room: 'dm:alice:carol', sender: 'Carol' }) });
  assert.equal(client.memberships.describe('dm:alice:carol').title, 'Carol');
  assert.equal(client.unread('dm:alice:carol'), 1);
  client.open('dm:alice:carol');
  assert.equal(client.unread('dm:alice:carol'), 0);
  assert.equal(client.startDm('ALICE'), null, 'no DM with yourself');
});

test('read markers survive a restart', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const persistent = new MemoryStorage();
  const first = await started({ api, persistent });
  let ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(1)], more: false, members: [] });
  ws.receive({ type: 'message', message: message(2) });
  assert.equal(first.client.unread('r1'), 1);
  first.client.stop();
  const second = await started({ api, persistent });
  ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(1), message(2), message(3)], more: false, members: [] });
  assert.equal(second.client.unread('r1'), 2);
});

test('presence, typing and leave', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = await started({ api });
  const ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [], more: false, members: ['alice'] });
  client.open('r1');
  ws.receive({ type: 'presence', room: 'r1', user: 'bob', status: 'joined' });
  assert.deepEqual(client.presence.membersOf('r1'), ['alice', 'bob']);
  ws.receive({ type: 'typing', room: 'r1', user: 'bob' });
  ws.receive({ type: 'typing', room: 'r1', user: 'alice' });
  assert.deepEqual(client.presence.typingIn('r1'), ['bob']);
  clock.advance(7000);
  assert.deepEqual(client.presence.typingIn('r1'), []);
  ws.receive({ type: 'typing', room: 'r1', user: 'bob' });
  ws.receive({ type: 'message', message: message(1) });
  assert.deepEqual(client.presence.typingIn('r1'), [], 'a message ends typing');
  ws.receive({ type: 'presence', room: 'r1', user: 'bob', status: 'left' });
  assert.deepEqual(client.presence.membersOf('r1'), ['alice']);
  // typing frames are throttled
  assert.equal(client.notifyTyping(), true);
  assert.equal(client.notifyTyping(), false);
  assert.equal(ws.frames('typing').length, 1);
  // leave (possibly from another device)
  ws.receive({ type: 'left', room: 'r1' });
  assert.equal(client.memberships.isMember('r1'), false);
  assert.equal(client.history.log('r1').messages.length, 0);
  assert.deepEqual(client.sendMessage('x'), { error: 'Join the room to send messages.' });
});

test('loading older messages asks for history before the oldest one held', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client } = await started({ api });
  const ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [message(10), message(11)], more: true, members: [] });
  client.open('r1');
  assert.equal(client.loadOlder(), true);
  assert.equal(client.loadOlder(), false, 'one request at a time');
  assert.equal(client.history.isLoadingOlder('r1'), true);
  assert.deepEqual(ws.frames('history'), [{ action: 'history', room: 'r1', before: ulid(10) }]);
  ws.receive({ type: 'history', room: 'r1', messages: [message(8), message(9)], more: false });
  assert.deepEqual(client.history.log('r1').messages.map((m) => m.id), [8, 9, 10, 11].map(ulid));
  assert.equal(client.history.log('r1').hasOlder, false);
  assert.equal(client.loadOlder(), false, 'nothing older');
});

test('error frames: a refused message is marked failed; an expired session is reported', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client } = await started({ api });
  const ws = FakeWebSocket.last();
  ws.receive({ type: 'joined', room, messages: [], more: false, members: [] });
  client.open('r1');
  client.sendMessage('hi');
  ws.receive({ type: 'error', code: 'rate_limited', message: 'Slow down.', action: 'send', client_id: 'cid-1' });
  assert.equal(client.sending.forConversation('r1')[0].state, 'failed');
  assert.equal(client.sending.forConversation('r1')[0].error, 'Slow down.');
  client.retry('cid-1');
  assert.equal(ws.frames('send').length, 2);
  assert.deepEqual(ws.frames('send').map((f) => f.client_id), ['cid-1', 'cid-1']);
  const notices = [];
  client.on('notice', (n) => notices.push(n));
  ws.receive({ type: 'error', code: 'not_found', message: 'No such room.', action: 'join' });
  assert.match(notices[0].text, /No such room/);
  let unauthorized = false;
  client.on('unauthorized', () => { unauthorized = true; });
  ws.receive({ type: 'error', code: 'unauthorized', message: 'Reconnect.' });
  assert.equal(unauthorized, true);
});

test('memberships dropped on another device while offline are not re-joined', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room, { id: 'r2', name: 'Other' }], dms: [] };
  const { client, clock } = await started({ api });
  let ws = FakeWebSocket.last();
  assert.equal(ws.frames('join').length, 2);
  ws.drop();
  api.myRoomsData = { rooms: [room], dms: [] };
  clock.advance(clock.pending()[0]);
  ws = FakeWebSocket.last();
  ws.open();
  await settle();
  assert.deepEqual(ws.frames('join').map((f) => f.room), ['r1']);
  assert.equal(client.memberships.isMember('r2'), false);
});

test('joining and creating rooms', async () => {
  const { client, api } = await started();
  const ws = FakeWebSocket.last();
  await client.createRoom('  Fresh ', ' desc ');
  assert.deepEqual(api.calls.find((c) => Array.isArray(c)), ['createRoom', 'Fresh', 'desc']);
  assert.deepEqual(ws.frames('join'), [{ action: 'join', room: 'r-new' }]);
  assert.equal(client.active, 'r-new');
  assert.equal(client.memberships.isJoining('r-new'), true);
  ws.receive({ type: 'joined', room: { id: 'r-new', name: 'Fresh' }, messages: [], more: false, members: ['alice'] });
  assert.equal(client.memberships.isJoining('r-new'), false);
  assert.equal(client.memberships.isMember('r-new'), true);
  assert.deepEqual(client.memberships.joinedRoomList().map((r) => r.name), ['Fresh']);
});

test('a re-join refused because the service is busy is retried', async () => {
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = await started({ api });
  const ws = FakeWebSocket.last();
  assert.equal(ws.frames('join').length, 1);
  ws.receive({ type: 'error', code: 'unavailable', message: 'Busy.', action: 'join' });
  clock.advance(3_000);
  assert.equal(ws.frames('join').length, 2);
  ws.receive({ type: 'joined', room, messages: [], more: false, members: ['alice'] });
  assert.equal(client.memberships.live.has('r1'), true);
  clock.advance(60_000);
  assert.equal(ws.frames('join').length, 2, 'no more retries once joined');
});

test('every event the client emits is one the chat view updates something from', async () => {
  const { PARTS, PARTS_FOR, OPEN_CONV_PARTS_FOR } = await import('../../../web/js/ui/chat-view.js');
  const api = fakeApi();
  api.myRoomsData = { rooms: [room], dms: [] };
  const { client, clock } = makeClient({ api });
  const emitted = new Set();
  const emit = client.emit.bind(client);
  client.emit = (type, detail) => {
    emitted.add(type);
    emit(type, detail);
  };
  client.start();
  await settle();
  const ws = FakeWebSocket.last();
  ws.open();
  await settle();
  ws.receive({ type: 'joined', room, messages: [message(1)], more: false, members: ['alice'] });
  client.open('r1');
  ws.receive({ type: 'presence', room: 'r1', user: 'bob', status: 'joined' });
  ws.receive({ type: 'typing', room: 'r1', user: 'bob' });
  client.sendMessage('hi');
  ws.receive({ type: 'message', message: message(2) });
  client.open(null);
  ws.receive({ type: 'message', message: message(3) });
  ws.receive({ type: 'error', code: 'not_found', message: 'No.', action: 'join' });
  ws.receive({ type: 'error', code: 'unauthorized', message: 'Reconnect.' });
  clock.advance(7_000);
  ws.drop();
  const handled = new Set([...Object.keys(PARTS_FOR), ...Object.keys(OPEN_CONV_PARTS_FOR),
    'notice', 'unauthorized']); // notices and sign-out are not parts of the screen
  assert.deepEqual([...emitted].sort(), [...handled].sort());
  for (const parts of [...Object.values(PARTS_FOR), ...Object.values(OPEN_CONV_PARTS_FOR)]) {
    for (const part of parts) assert.ok(PARTS.includes(part), part);
  }
  client.stop();
});
