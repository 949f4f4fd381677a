import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeHref, tokenize } from '../../../web/js/linkify.js';

const joined = (tokens) => tokens.map((t) => t.text).join('');

test('plain text is one text token', () => {
  assert.deepEqual(tokenize('hello world'), [{ type: 'text', text: 'hello world' }]);
  assert.deepEqual(tokenize(''), []);
});

test('http and https URLs become links, trailing punctuation stays text', () => {
  const tokens = tokenize('see https://example.com/a?b=1#c, and http://x.org.');
  assert.deepEqual(tokens, [
    { type: 'text', text: 'see ' },
    { type: 'link', text: 'https://example.com/a?b=1#c', href: 'https://example.com/a?b=1#c' },
    { type: 'text', text: ', and ' },
    { type: 'link', text: 'http://x.org', href: 'http://x.org/' },
    { type: 'text', text: '.' },
  ]);
});

test('brackets belong to the URL only when balanced', () => {
  const tokens = tokenize('(see https://en.wikipedia.org/wiki/Foo_(bar))');
  assert.equal(tokens[1].text, 'https://en.wikipedia.org/wiki/Foo_(bar)');
  assert.equal(tokens[2].text, ')');
});

test('other schemes and markup are never links', () => {
  for (const text of ['javascript:alert(1)', 'data:text/html,<script>x</script>', 'vbscript:x',
    'ftp://files.example.com', '<img src=x onerror=alert(1)>', 'JaVaScRiPt:alert(1)']) {
    const tokens = tokenize(text);
    assert.ok(tokens.every((t) => t.type === 'text'), text);
    assert.equal(joined(tokens), text);
  }
});

test('a link never swallows markup or quotes', () => {
  const text = 'https://a.example/"><img src=x onerror=alert(1)>';
  const tokens = tokenize(text);
  assert.equal(tokens[0].type, 'link');
  assert.equal(tokens[0].href, 'https://a.example/');
  assert.equal(joined(tokens), text);
});

test('joining the tokens gives the input back', () => {
  for (const text of ['a https://b.c d', 'https://x.y', 'x\nhttps://a.b/\ny', 'http://', 'https://[::1]:8/x)']) {
    assert.equal(joined(tokenize(text)), text);
  }
});

test('safeHref accepts only well-formed http(s) URLs', () => {
  assert.equal(safeHref('https://example.com'), 'https://example.com/');
  assert.equal(safeHref('http://'), null);
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('not a url'), null);
});
