// Pure helpers of web/input.js. Run: node --test web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateUtf8 } from './input.js';

const utf8Length = (s) => new TextEncoder().encode(s).length;

test('clipboard text within the limit is unchanged', () => {
  assert.equal(truncateUtf8('héllo', 6), 'héllo');
});

test('clipboard text is cut at the byte limit', () => {
  assert.equal(truncateUtf8('abcdef', 4), 'abcd');
});

test('a cut never splits a multi-byte character', () => {
  // '€' is 3 bytes: a 4-byte limit after 'a' would land inside it.
  assert.equal(truncateUtf8('a€€', 5), 'a€');
  assert.equal(truncateUtf8('a€€', 3), 'a');
  assert.equal(truncateUtf8('😀', 3), '');
  const long = 'ß'.repeat(200_000);
  const cut = truncateUtf8(long, 256 * 1024);
  assert.ok(utf8Length(cut) <= 256 * 1024);
  assert.equal(utf8Length(cut), 256 * 1024);
});
