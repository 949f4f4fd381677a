import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TypingThrottle, TypingTracker, typingText } from '../../../web/js/typing.js';

test('typing entries expire after the TTL and a message clears them', () => {
  const tracker = new TypingTracker(5000);
  tracker.seen('r1', 'bob', 0);
  tracker.seen('r1', 'alice', 1000);
  assert.deepEqual(tracker.active('r1', 2000), ['alice', 'bob']);
  assert.deepEqual(tracker.active('r1', 5500), ['alice']);
  assert.equal(tracker.nextExpiry(5500), 6000);
  assert.equal(tracker.clear('r1', 'ALICE'), true);
  assert.deepEqual(tracker.active('r1', 5500), []);
  assert.equal(tracker.nextExpiry(5500), null);
  assert.deepEqual(tracker.active('other', 0), []);
});

test('typing text', () => {
  assert.equal(typingText([]), '');
  assert.equal(typingText(['bob']), 'bob is typing…');
  assert.equal(typingText(['a', 'b']), 'a and b are typing…');
  assert.equal(typingText(['a', 'b', 'c']), 'a, b and c are typing…');
  assert.equal(typingText(['a', 'b', 'c', 'd']), 'Several people are typing…');
});

test('the throttle lets one typing frame through per interval and conversation', () => {
  const throttle = new TypingThrottle(3000);
  assert.equal(throttle.shouldSend('r1', 0), true);
  assert.equal(throttle.shouldSend('r1', 1000), false);
  assert.equal(throttle.shouldSend('r2', 1000), true);
  assert.equal(throttle.shouldSend('r1', 3000), true);
  throttle.reset('r1');
  assert.equal(throttle.shouldSend('r1', 3001), true);
});
