import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, createApi, errorFromResponse } from '../../../web/js/api.js';

function fakeFetch(status, body, headers = {}) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return {
      ok: status >= 200 && status < 300,
      status,
      headers: { get: (name) => headers[name] ?? null },
      text: async () => (typeof body === 'string' ? body : JSON.stringify(body)),
    };
  };
  return { calls, fetchImpl };
}

test('requests go to apiUrl + path with the bearer token', async () => {
  const { calls, fetchImpl } = fakeFetch(200, { rooms: [] });
  const api = createApi({ apiUrl: 'http://127.0.0.1:8000/api', getToken: () => 'tok', fetchImpl });
  assert.deepEqual(await api.rooms(), { rooms: [] });
  await api.createRoom('Dev', '');
  assert.equal(calls[0].url, 'http://127.0.0.1:8000/api/chatrooms');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok');
  assert.equal(calls[1].url, 'http://127.0.0.1:8000/api/chatrooms');
  assert.deepEqual(JSON.parse(calls[1].init.body), { name: 'Dev' }, 'an empty description is left out');
});

test('login sends JSON and no token', async () => {
  const { calls, fetchImpl } = fakeFetch(200, { token: 't', user: { username: 'a' } });
  const api = createApi({ apiUrl: 'https://h/api', getToken: () => 'old', fetchImpl });
  await api.login('a@b.co', 'pw');
  assert.equal(calls[0].url, 'https://h/api/auth/login');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers.Authorization, undefined);
  assert.deepEqual(JSON.parse(calls[0].init.body), { username: 'a@b.co', password: 'pw' });
});

test('errors carry status, code and fields', async () => {
  const { fetchImpl } = fakeFetch(400, { error: { code: 'invalid_request', message: 'Some fields are invalid.',
    fields: { password: 'must be at least 8 bytes' } } });
  const api = createApi({ apiUrl: 'https://h/api', fetchImpl });
  await assert.rejects(api.register('abc', 'a@b.co', 'x'), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_request');
    assert.deepEqual(error.fields, { password: 'must be at least 8 bytes' });
    return true;
  });
});

test('a 401 on an authenticated call reports the expired session', async () => {
  const { fetchImpl } = fakeFetch(401, { error: { code: 'unauthorized', message: 'Expired.' } });
  let told = 0;
  const api = createApi({ apiUrl: 'https://h/api', getToken: () => 't', fetchImpl, onUnauthorized: () => { told += 1; } });
  await assert.rejects(api.me(), { status: 401 });
  assert.equal(told, 1);
  // a failed login is not an expired session
  await assert.rejects(api.login('a', 'b'), { status: 401 });
  assert.equal(told, 1);
});

test('network failures and odd bodies become ApiErrors', async () => {
  const api = createApi({ apiUrl: 'https://h/api', fetchImpl: async () => { throw new TypeError('fail'); } });
  await assert.rejects(api.rooms(), { code: 'network', status: 0 });
  const html = createApi({ apiUrl: 'https://h/api', fetchImpl: fakeFetch(502, '<html>Bad gateway</html>').fetchImpl });
  await assert.rejects(html.rooms(), { status: 502, message: 'The server answered 502.' });
  const limited = errorFromResponse(429, null, '30');
  assert.equal(limited.retryAfter, 30);
  assert.match(limited.message, /Too many/);
});
