import { test } from 'node:test';
import assert from 'node:assert/strict';
import { charLength, utf8Length, validateLogin, validateMessage, validateRegistration, validateRoom }
  from '../../../web/js/validation.js';

test('registration rules mirror the API', () => {
  assert.deepEqual(validateRegistration({ username: 'alice_1.x-y', email: 'a@b.co', password: '12345678' }), {});
  const errors = validateRegistration({ username: 'a b', email: 'nope', password: 'short' });
  assert.deepEqual(Object.keys(errors).sort(), ['email', 'password', 'username']);
  assert.ok(validateRegistration({ username: 'ab', email: 'a@b.c', password: '12345678' }).username);
  assert.ok(validateRegistration({ username: 'x'.repeat(33), email: 'a@b.c', password: '12345678' }).username);
  // 72 bytes is the limit, in bytes: 24 three-byte characters are fine, 25 are not
  assert.equal(validateRegistration({ username: 'abc', email: 'a@b.c', password: '€'.repeat(24) }).password, undefined);
  assert.ok(validateRegistration({ username: 'abc', email: 'a@b.c', password: '€'.repeat(25) }).password);
});

test('login needs both fields', () => {
  assert.deepEqual(validateLogin({ username: 'a', password: 'b' }), {});
  assert.deepEqual(Object.keys(validateLogin({ username: ' ', password: '' })).sort(), ['password', 'username']);
});

test('room names: 1-64 characters after trimming', () => {
  assert.deepEqual(validateRoom({ name: '  general ' }), {});
  assert.ok(validateRoom({ name: '   ' }).name);
  assert.ok(validateRoom({ name: 'x'.repeat(65) }).name);
  assert.ok(validateRoom({ name: 'ok', description: 'd'.repeat(501) }).description);
});

test('messages: 1-4000 characters after trimming, counted as code points', () => {
  assert.equal(validateMessage('hi'), null);
  assert.ok(validateMessage('  \n '));
  assert.equal(validateMessage('😀'.repeat(4000)), null);
  assert.match(validateMessage('x'.repeat(4001)), /4000/);
  assert.equal(charLength('😀'), 1);
  assert.equal(utf8Length('😀'), 4);
});
