import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '../../../web/js/connection.js';
import { FakeClock, FakeWebSocket } from './helpers/fakes.mjs';

beforeEach(() => FakeWebSocket.reset());

function connect(overrides = {}) {
  const clock = new FakeClock();
  const events = { statuses: [], frames: [], opens: 0, closes: [] };
  const connection = new Connection({
    url: () => 'ws://h/ws?token=t',
    WebSocketImpl: FakeWebSocket,
    timers: clock.timers,
    now: clock.now,
    random: () => 1, // the largest delay, so the tests know it
    onStatus: (s) => events.statuses.push(s),
    onFrame: (f) => events.frames.push(f),
    onOpen: () => { events.opens += 1; },
    onClose: (info) => events.closes.push(info),
    ...overrides,
  });
  connection.start();
  return { clock, events, connection };
}

test('connects, reports status and passes frames on (pongs are its own)', () => {
  const { events, connection } = connect();
  assert.equal(FakeWebSocket.last().url, 'ws://h/ws?token=t');
  assert.deepEqual(events.statuses, ['connecting']);
  FakeWebSocket.last().open();
  assert.equal(connection.connected, true);
  assert.deepEqual(events.statuses, ['connecting', 'connected']);
  FakeWebSocket.last().receive({ type: 'message', message: {} });
  FakeWebSocket.last().receive({ type: 'pong' });
  FakeWebSocket.last().onmessage({ data: 'not json' });
  assert.deepEqual(events.frames, [{ type: 'message', message: {} }]);
  assert.equal(connection.send({ action: 'ping' }), true);
});

test('reconnects with exponential backoff after a drop, and resets after a healthy connection', () => {
  const { clock, events, connection } = connect();
  FakeWebSocket.last().open();
  clock.advance(60_000);
  FakeWebSocket.last().drop();
  assert.equal(connection.status, 'reconnecting');
  assert.equal(connection.send({ action: 'ping' }), false);
  const delays = [];
  for (let i = 0; i < 5; i += 1) {
    const before = FakeWebSocket.instances.length;
    delays.push(clock.pending()[0]);
    clock.advance(clock.pending()[0]);
    assert.equal(FakeWebSocket.instances.length, before + 1, 'a new attempt');
    FakeWebSocket.last().refuse();
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000]);
  assert.equal(events.closes.at(-1).failures, 5);
  clock.advance(clock.pending()[0]);
  FakeWebSocket.last().open();
  assert.equal(events.opens, 2);
  assert.equal(connection.status, 'connected');
  clock.advance(10_000);
  FakeWebSocket.last().drop();
  assert.equal(clock.pending()[0], 500, 'backoff starts over after a healthy connection');
});

test('a connection that drops right after opening does not reset the backoff', () => {
  const { clock } = connect();
  FakeWebSocket.last().open();
  clock.advance(10_000);
  FakeWebSocket.last().drop();
  clock.advance(clock.pending()[0]);
  FakeWebSocket.last().open();
  clock.advance(100);
  FakeWebSocket.last().drop(); // flapping
  assert.equal(clock.pending()[0], 1000);
});

test('pings every 5 minutes and reconnects when no pong comes', () => {
  const { clock, connection } = connect();
  const ws = FakeWebSocket.last();
  ws.open();
  clock.advance(5 * 60_000);
  assert.deepEqual(ws.frames('ping'), [{ action: 'ping' }]);
  ws.receive({ type: 'pong' });
  clock.advance(5 * 60_000);
  assert.equal(ws.frames('ping').length, 2);
  clock.advance(20_000); // no pong this time
  assert.equal(connection.status, 'reconnecting');
  assert.equal(ws.closedWith, 1000);
  clock.advance(clock.pending()[0]);
  assert.equal(FakeWebSocket.instances.length, 2);
});

test('reconnects by itself before API Gateway\'s 2-hour limit', () => {
  const { clock, events } = connect();
  FakeWebSocket.last().open();
  FakeWebSocket.last().onmessage({ data: JSON.stringify({ type: 'pong' }) });
  // answer every ping
  const answer = () => { for (const ws of FakeWebSocket.instances) if (ws.readyState === 1) ws.receive({ type: 'pong' }); };
  for (let minute = 0; minute < 109; minute += 1) { clock.advance(60_000); answer(); }
  assert.equal(FakeWebSocket.instances.length, 1);
  clock.advance(60_000);
  assert.equal(FakeWebSocket.instances.length, 2, 'a new socket at 110 minutes, without waiting for a backoff');
  assert.equal(FakeWebSocket.instances[0].closedWith, 1000);
  FakeWebSocket.last().open();
  assert.equal(events.opens, 2);
});

test('offline: no attempts until the network is back, then at once', () => {
  const { clock, connection } = connect();
  FakeWebSocket.last().open();
  connection.setNetwork(false);
  assert.equal(connection.status, 'offline');
  clock.advance(10 * 60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
  connection.setNetwork(true);
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(connection.status, 'reconnecting');
});

test('pause/resume (the test hook) and stop', () => {
  const { clock, connection, events } = connect();
  FakeWebSocket.last().open();
  connection.pause();
  assert.equal(connection.status, 'offline');
  clock.advance(60_000);
  assert.equal(FakeWebSocket.instances.length, 1);
  connection.resume();
  FakeWebSocket.last().open();
  assert.equal(events.opens, 2);
  connection.stop();
  assert.equal(connection.status, 'closed');
  assert.deepEqual(clock.pending(), [], 'no timers left behind');
  connection.drop();
  assert.equal(FakeWebSocket.instances.length, 2);
});

test('drop() closes the socket like a network drop and the connection comes back', () => {
  const { clock, connection } = connect();
  FakeWebSocket.last().open();
  connection.drop();
  assert.equal(connection.status, 'reconnecting');
  clock.advance(clock.pending()[0]);
  FakeWebSocket.last().open();
  assert.equal(connection.status, 'connected');
});
