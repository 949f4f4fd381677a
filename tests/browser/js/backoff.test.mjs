import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../../web/js/backoff.js';

test('the ceiling doubles per attempt and stops at the cap', () => {
  const max = (attempt) => backoffDelay(attempt, { baseMs: 500, capMs: 30_000, random: () => 1 });
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 20].map(max), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('jitter stays within [ceiling/2, ceiling]', () => {
  assert.equal(backoffDelay(3, { baseMs: 500, random: () => 0 }), 2000);
  assert.equal(backoffDelay(3, { baseMs: 500, random: () => 0.5 }), 3000);
  for (let i = 0; i < 200; i += 1) {
    const delay = backoffDelay(4);
    assert.ok(delay >= 4000 && delay <= 8000, String(delay));
  }
});

test('jitter spreads clients out', () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5)));
  assert.ok(delays.size > 10);
});

test('odd inputs give sane delays', () => {
  assert.equal(backoffDelay(-3, { random: () => 1 }), 500);
  assert.equal(backoffDelay(Number.NaN, { random: () => 1 }), 500);
  assert.equal(backoffDelay(1e9, { random: () => 1 }), 30_000);
  assert.equal(backoffDelay(0, { random: () => 7 }), 500);
});
