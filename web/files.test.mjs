// My Files' pure helpers (web/files.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatSize, joinPath, parentPath } from './files.js';

test('sizes read in binary units', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(200 * 2 ** 20), '200 MiB');
  assert.equal(formatSize(10 * 2 ** 30), '10 GiB');
});

test('paths join and climb within the folder', () => {
  assert.equal(joinPath('', 'a.txt'), 'a.txt');
  assert.equal(joinPath('docs/2026', 'a.txt'), 'docs/2026/a.txt');
  assert.equal(parentPath('docs/2026'), 'docs');
  assert.equal(parentPath('docs'), '');
  assert.equal(parentPath(''), '');
});
