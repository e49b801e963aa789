// web/protocol.js against the golden vectors that crates/protocol also checks
// (crates/protocol/tests/vectors.rs). Run: node --test web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CLIENT_MESSAGES, SERVER_MESSAGES, ProtocolError,
  decodeClient, decodeServer, encodeClient, encodeServer,
} from './protocol.js';

const vectors = JSON.parse(readFileSync(new URL('../crates/protocol/tests/vectors.json', import.meta.url), 'utf8'));

const hexToBytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
const bytesToHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Uint8Array fields as plain arrays, the way vectors.json spells bytes. */
const plain = (value) => JSON.parse(JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));

const codecFor = (direction) =>
  direction === 'client'
    ? { encode: encodeClient, decode: decodeClient }
    : { encode: encodeServer, decode: decodeServer };

test('every message type has a golden vector', () => {
  const covered = new Set(vectors.map((v) => v.message.type));
  for (const type of [...Object.keys(CLIENT_MESSAGES), ...Object.keys(SERVER_MESSAGES)]) {
    assert.ok(covered.has(type), `no vector for ${type}`);
  }
});

for (const v of vectors) {
  const { encode, decode } = codecFor(v.direction);

  test(`${v.name}: encodes to the golden bytes`, () => {
    assert.equal(bytesToHex(encode(v.message)), v.hex);
  });

  test(`${v.name}: decodes the golden bytes`, () => {
    assert.deepEqual(plain(decode(hexToBytes(v.hex))), v.message);
  });

  test(`${v.name}: every truncation is rejected`, () => {
    const bytes = hexToBytes(v.hex);
    for (let len = 0; len < bytes.length; len++) {
      assert.throws(() => decode(bytes.subarray(0, len)), ProtocolError, `length ${len}`);
    }
  });

  test(`${v.name}: a trailing byte is rejected`, () => {
    const bytes = hexToBytes(v.hex + '00');
    assert.throws(() => decode(bytes), /trailing/);
  });
}

test('decoding rejects unknown types, bad bools, bad encodings and invalid UTF-8', () => {
  assert.throws(() => decodeServer(Uint8Array.of(0x01)), /unknown message type/);
  assert.throws(() => decodeClient(Uint8Array.of(0x81)), /unknown message type/);
  // PointerButton with pressed = 2.
  assert.throws(() => decodeClient(Uint8Array.of(0x04, 1, 2, 0, 0, 0, 0)), /invalid bool/);
  // Frame with one rect of encoding 6.
  const frame = encodeServer({ type: 'Frame', frame_id: 1, rects: [{ encoding: 0, x: 0, y: 0, width: 1, height: 1, data: [1, 2, 3, 255] }] });
  frame[7] = 6;
  assert.throws(() => decodeServer(frame), /unknown rect encoding/);
  // A Notice of a kind this version does not know.
  assert.throws(() => decodeServer(Uint8Array.of(0x88, 5, 30, 0, 0, 0, 0, 0, 0, 0)), /unknown notice kind 5/);
  assert.throws(() => encodeServer({ type: 'Notice', kind: 5, seconds_left: 1, text: '' }), ProtocolError);
  // Text with a lone continuation byte.
  assert.throws(() => decodeClient(Uint8Array.of(0x07, 1, 0, 0, 0, 0x80)), /invalid UTF-8/);
});

test('decoding accepts a view into a larger buffer (frames arrive in shared buffers)', () => {
  const inner = encodeServer({ type: 'Pong', timestamp: 42 });
  const outer = new Uint8Array(inner.length + 4);
  outer.set(inner, 2);
  assert.deepEqual(decodeServer(outer.subarray(2, 2 + inner.length)), { type: 'Pong', timestamp: 42 });
});

test('encoding rejects values the wire cannot carry', () => {
  assert.throws(() => encodeClient({ type: 'PointerMove', x: 70000, y: 0 }), ProtocolError);
  assert.throws(() => encodeClient({ type: 'Wheel', dx: -40000, dy: 0 }), ProtocolError);
  assert.throws(() => encodeClient({ type: 'Key', pressed: 1, code: 'KeyA', key: 'a' }), ProtocolError);
  assert.throws(() => encodeClient({ type: 'Nope' }), /unknown message type/);
});
