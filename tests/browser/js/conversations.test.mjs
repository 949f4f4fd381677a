import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dmId, dmPeer, isDmId, sameUser } from '../../../web/js/conversations.js';

test('DM ids are the two lowercased names, sorted', () => {
  assert.equal(dmId('Bob', 'alice'), 'dm:alice:bob');
  assert.equal(dmId('alice', 'Bob'), 'dm:alice:bob');
  assert.equal(isDmId('dm:alice:bob'), true);
  assert.equal(isDmId('general'), false);
  assert.equal(isDmId('dm:x'), false);
  assert.equal(dmPeer('dm:alice:bob', 'Alice'), 'bob');
  assert.equal(dmPeer('dm:alice:bob', 'bob'), 'alice');
  assert.equal(dmPeer('dm:alice:bob', 'carol'), null);
  assert.equal(sameUser('Alice', 'alice'), true);
  assert.equal(sameUser('Alice', null), false);
});
