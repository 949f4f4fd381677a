import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History } from '../../../../web/js/client/history.js';
import { FakeClock, fakeConnection, message, recordEmits, ulid } from '../helpers/fakes.mjs';

function make() {
  const clock = new FakeClock();
  const connection = fakeConnection();
  const { emit, events } = recordEmits();
  const history = new History({ connection, emit, now: clock.now, timeoutMs: 15_000, maxCatchUpPages: 2 });
  return { history, connection, clock, events };
}

const page = (numbers, more = false) => ({ messages: numbers.map((n) => message(n)), more });

test('the first page says whether messages had arrived before it', () => {
  const { history } = make();
  assert.deepEqual(history.onJoined('r1', page([1, 2], true), null), { hadMessages: false });
  assert.equal(history.log('r1').hasOlder, true);
  assert.equal(history.joinCursor('r1'), ulid(2));
  history.add('dm:a:b', [message(5, { room: 'dm:a:b' })]);
  assert.equal(history.joinCursor('dm:a:b'), null, 'no latest page yet: no cursor');
  history.loadLatestOnce('dm:a:b');
  assert.deepEqual(history.onHistory('dm:a:b', page([4, 5])), { hadMessages: true });
  assert.equal(history.onHistory('dm:a:b', page([6])), null, 'not the first page any more');
});

test('a re-join with more missed pages on `after` up to the limit, then starts again from the latest page', () => {
  const { history, connection } = make();
  history.onJoined('r1', page([1]), null);
  assert.equal(history.onJoined('r1', page([2, 3], true), ulid(1)), null, 'a re-join is no first page');
  assert.deepEqual(connection.frames('history'), [{ action: 'history', room: 'r1', after: ulid(3) }]);
  history.onHistory('r1', page([4], true));
  assert.deepEqual(connection.frames('history').at(-1), { action: 'history', room: 'r1', after: ulid(4) });
  history.onHistory('r1', page([5], true));
  // a third page would pass maxCatchUpPages (2): the log is emptied and the latest page asked for
  assert.deepEqual(connection.frames('history').at(-1), { action: 'history', room: 'r1' });
  assert.equal(connection.frames('history').length, 3);
  assert.equal(history.log('r1').loaded, false);
});

test('older pages: one request at a time, until the server says there are none', () => {
  const { history, connection, clock, events } = make();
  history.onJoined('r1', page([10, 11], true), null);
  assert.equal(history.loadOlder('r1'), true);
  assert.deepEqual(events.at(-1), ['messages', 'r1'], 'the view shows that older messages are loading');
  assert.equal(history.isLoadingOlder('r1'), true);
  assert.equal(history.loadOlder('r1'), false);
  clock.advance(15_000);
  assert.equal(history.loadOlder('r1'), true, 'a request unanswered for the timeout no longer blocks');
  history.onHistory('r1', page([9]));
  assert.equal(history.isLoadingOlder('r1'), false);
  assert.equal(history.loadOlder('r1'), false, 'nothing older');
  assert.deepEqual(connection.frames('history').map((f) => f.before), [ulid(10), ulid(10)]);
});

test('DM catch-up after a reconnect: after the newest message, or the latest page if none came', () => {
  const { history, connection } = make();
  history.catchUp('dm:a:b');
  history.onHistory('dm:a:b', page([3]));
  history.reset();
  history.catchUp('dm:a:b');
  assert.deepEqual(connection.frames('history'), [{ action: 'history', room: 'dm:a:b' },
    { action: 'history', room: 'dm:a:b', after: ulid(3) }]);
});
