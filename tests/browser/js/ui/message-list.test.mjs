import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageRows } from '../../../../web/js/ui/message-list.js';
import { message } from '../helpers/fakes.mjs';

const at = (n, iso) => ({ ...message(n), ts: iso });

test('a day separator before the first message of each day, ours not yet confirmed last', () => {
  const now = new Date(2026, 0, 3, 12);
  const rows = messageRows([
    at(1, new Date(2026, 0, 2, 9).toISOString()),
    at(2, new Date(2026, 0, 2, 23).toISOString()),
    at(3, new Date(2026, 0, 3, 8).toISOString()),
  ], [{ clientId: 'c1', text: 'hi' }], now);
  assert.deepEqual(rows.map((row) => row.key), ['d:2026-01-02', `m:${message(1).id}`, `m:${message(2).id}`,
    'd:2026-01-03', `m:${message(3).id}`, 'p:c1']);
  assert.deepEqual(rows.filter((row) => row.kind === 'day').map((row) => row.label), ['Yesterday', 'Today']);
});

test('a message without a readable time gets no separator', () => {
  assert.deepEqual(messageRows([at(1, 'not a time')], []).map((row) => row.kind), ['msg']);
});
