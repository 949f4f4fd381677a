import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiEndpoint, defaultConfig, normalizeConfig, websocketEndpoint } from '../../../web/js/config.js';

const page = { href: 'https://chat.example.com/app/index.html' };

test('normalizeConfig keeps the /api path and drops trailing slashes', () => {
  const config = normalizeConfig({ apiUrl: 'https://x.execute-api.eu-west-1.amazonaws.com/api/',
    websocketUrl: 'wss://y.execute-api.eu-west-1.amazonaws.com/api' }, page);
  assert.equal(config.apiUrl, 'https://x.execute-api.eu-west-1.amazonaws.com/api');
  assert.equal(config.websocketUrl, 'wss://y.execute-api.eu-west-1.amazonaws.com/api');
});

test('normalizeConfig resolves relative URLs against the page', () => {
  const config = normalizeConfig({ apiUrl: '/api', websocketUrl: '/ws' }, page);
  assert.equal(config.apiUrl, 'https://chat.example.com/api');
  assert.equal(config.websocketUrl, 'wss://chat.example.com/ws');
});

test('normalizeConfig refuses what it cannot use', () => {
  assert.throws(() => normalizeConfig(null, page));
  assert.throws(() => normalizeConfig([], page));
  assert.throws(() => normalizeConfig({ websocketUrl: 'ws://a/ws' }, page), /apiUrl/);
  assert.throws(() => normalizeConfig({ apiUrl: 'http://a/api' }, page), /websocketUrl/);
  assert.throws(() => normalizeConfig({ apiUrl: 'javascript:alert(1)', websocketUrl: 'ws://a' }, page));
});

test('defaultConfig uses the same origin', () => {
  assert.deepEqual(defaultConfig({ href: 'http://127.0.0.1:8000/#/login' }),
    { apiUrl: 'http://127.0.0.1:8000/api', websocketUrl: 'ws://127.0.0.1:8000/ws' });
  assert.deepEqual(defaultConfig({ href: 'https://c.example/' }),
    { apiUrl: 'https://c.example/api', websocketUrl: 'wss://c.example/ws' });
});

test('apiEndpoint appends encoded path segments to the base that includes /api', () => {
  assert.equal(apiEndpoint('http://127.0.0.1:8000/api', ['auth', 'login']), 'http://127.0.0.1:8000/api/auth/login');
  assert.equal(apiEndpoint('https://h/api/', ['chatrooms', 'dm:alice:bob']),
    'https://h/api/chatrooms/dm%3Aalice%3Abob');
  assert.equal(apiEndpoint('https://h/api', ['chatrooms', '../me']), 'https://h/api/chatrooms/..%2Fme');
});

test('websocketEndpoint URL-encodes the token and keeps an existing query', () => {
  assert.equal(websocketEndpoint('ws://127.0.0.1:8000/ws', 'a.b+c/d='),
    'ws://127.0.0.1:8000/ws?token=a.b%2Bc%2Fd%3D');
  assert.equal(websocketEndpoint('wss://h/api?x=1', 't'), 'wss://h/api?x=1&token=t');
});
