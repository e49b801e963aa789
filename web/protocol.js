// The Porthole wire protocol, version 1 (docs/protocol.md), and nothing else.
//
// Messages are plain objects `{type: 'Hello', version: 1, ...}` with the field
// names of docs/protocol.md; byte fields are Uint8Array (decoded ones are views
// into the received buffer, so large frames are not copied). Both directions
// encode and decode, so the golden vectors check every message both ways.

export const PROTOCOL_VERSION = 1;
/** `Hello.codecs` bits. */
export const CODEC_H264 = 1;
export const CODEC_WEBP = 2;

/** Rect encodings. */
export const Encoding = Object.freeze({ Solid: 0, Copy: 1, Png: 2, Jpeg: 3, H264: 4, Webp: 5 });
/** `Notice.kind`s. */
export const NoticeKind = Object.freeze({ SessionEnding: 0, IdleDisconnect: 1, Disconnected: 2, HomeFolderFull: 3, SessionScriptFailed: 4 });

export class ProtocolError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * @typedef {{enum: string, count: number}} EnumKind  a u8 below `count`; `enum` names it in errors
 * @typedef {'u8'|'u16'|'u32'|'i16'|'bool'|'str'|'bytes'|EnumKind|{list: Field[]}} Kind
 * @typedef {[string, Kind]} Field
 */

/** @param {string} name @param {Record<string, number>} values @returns {EnumKind} */
const enumOf = (name, values) => ({ enum: name, count: Object.keys(values).length });

/** @type {Field[]} */
const RECT = [['encoding', enumOf('rect encoding', Encoding)], ['x', 'u16'], ['y', 'u16'], ['width', 'u16'], ['height', 'u16'], ['data', 'bytes']];
/** @type {Field[]} */
const WINDOW = [['id', 'u32'], ['x', 'i16'], ['y', 'i16'], ['width', 'u16'], ['height', 'u16'], ['focused', 'bool'], ['title', 'str']];

/** Client -> agent: name -> [type byte, fields]. @type {Record<string, [number, Field[]]>} */
export const CLIENT_MESSAGES = {
  Hello: [0x01, [['version', 'u16'], ['width', 'u16'], ['height', 'u16'], ['codecs', 'u32']]],
  FrameAck: [0x02, [['frame_id', 'u32']]],
  PointerMove: [0x03, [['x', 'u16'], ['y', 'u16']]],
  PointerButton: [0x04, [['button', 'u8'], ['pressed', 'bool'], ['x', 'u16'], ['y', 'u16']]],
  Wheel: [0x05, [['dx', 'i16'], ['dy', 'i16']]],
  Key: [0x06, [['pressed', 'bool'], ['code', 'str'], ['key', 'str']]],
  Text: [0x07, [['text', 'str']]],
  Resize: [0x08, [['width', 'u16'], ['height', 'u16']]],
  ClipboardSet: [0x09, [['text', 'str']]],
  ReleaseAll: [0x0a, []],
  Ping: [0x0b, [['timestamp', 'u32']]],
  RefreshRequest: [0x0c, []],
  FocusWindow: [0x0d, [['window', 'u32']]],
};

/** Agent -> client. @type {Record<string, [number, Field[]]>} */
export const SERVER_MESSAGES = {
  ServerHello: [0x80, [['version', 'u16'], ['session', 'str']]],
  Frame: [0x81, [['frame_id', 'u32'], ['rects', { list: RECT }]]],
  ScreenSize: [0x82, [['width', 'u16'], ['height', 'u16']]],
  Cursor: [0x83, [['hot_x', 'u16'], ['hot_y', 'u16'], ['width', 'u16'], ['height', 'u16'], ['png', 'bytes']]],
  Clipboard: [0x84, [['text', 'str']]],
  Windows: [0x85, [['windows', { list: WINDOW }]]],
  Pong: [0x86, [['timestamp', 'u32']]],
  Goodbye: [0x87, [['reason', 'str']]],
  Notice: [0x88, [['kind', enumOf('notice kind', NoticeKind)], ['seconds_left', 'u32'], ['text', 'str']]],
};

/** @param {Record<string, [number, Field[]]>} table */
function byTypeByte(table) {
  /** @type {Map<number, [string, Field[]]>} */
  const map = new Map();
  for (const [name, [byte, fields]] of Object.entries(table)) map.set(byte, [name, fields]);
  return map;
}
const CLIENT_BY_BYTE = byTypeByte(CLIENT_MESSAGES);
const SERVER_BY_BYTE = byTypeByte(SERVER_MESSAGES);

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  constructor() {
    this.buf = new Uint8Array(64);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  /** @param {number} n */
  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /**
   * @param {Kind} kind
   * @param {any} value
   * @param {string} name for error messages
   */
  put(kind, value, name) {
    if (typeof kind === 'object' && 'enum' in kind) {
      checkInt(value, 0, kind.count - 1, name);
      this.put('u8', value, name);
      return;
    }
    if (typeof kind === 'object') {
      if (!Array.isArray(value)) throw new ProtocolError(`${name}: expected an array`);
      this.put('u16', value.length, name);
      for (const item of value) this.fields(kind.list, item);
      return;
    }
    switch (kind) {
      case 'u8':
        checkInt(value, 0, 0xff, name);
        this.reserve(1);
        this.view.setUint8(this.len, value);
        this.len += 1;
        return;
      case 'bool':
        if (typeof value !== 'boolean') throw new ProtocolError(`${name}: expected a boolean`);
        this.put('u8', value ? 1 : 0, name);
        return;
      case 'u16':
        checkInt(value, 0, 0xffff, name);
        this.reserve(2);
        this.view.setUint16(this.len, value, true);
        this.len += 2;
        return;
      case 'i16':
        checkInt(value, -0x8000, 0x7fff, name);
        this.reserve(2);
        this.view.setInt16(this.len, value, true);
        this.len += 2;
        return;
      case 'u32':
        checkInt(value, 0, 0xffffffff, name);
        this.reserve(4);
        this.view.setUint32(this.len, value, true);
        this.len += 4;
        return;
      case 'str':
        if (typeof value !== 'string') throw new ProtocolError(`${name}: expected a string`);
        this.put('bytes', utf8Encoder.encode(value), name);
        return;
      case 'bytes': {
        const bytes = value instanceof Uint8Array ? value : Uint8Array.from(value);
        this.put('u32', bytes.length, name);
        this.reserve(bytes.length);
        this.buf.set(bytes, this.len);
        this.len += bytes.length;
        return;
      }
    }
  }

  /** @param {Field[]} fields @param {any} obj */
  fields(fields, obj) {
    for (const [name, kind] of fields) this.put(kind, obj[name], name);
  }

  finish() {
    return this.buf.slice(0, this.len);
  }
}

/** @param {any} v @param {number} min @param {number} max @param {string} name */
function checkInt(v, min, max, name) {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError(`${name}: ${v} is not an integer in ${min}..${max}`);
  }
}

class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** @param {number} n @param {string} name */
  need(n, name) {
    if (this.bytes.length - this.pos < n) {
      throw new ProtocolError(`truncated at ${name}: need ${n} bytes at offset ${this.pos}, have ${this.bytes.length - this.pos}`);
    }
  }

  /** @param {Kind} kind @param {string} name @returns {any} */
  get(kind, name) {
    if (typeof kind === 'object' && 'enum' in kind) {
      const v = this.get('u8', name);
      if (v >= kind.count) throw new ProtocolError(`unknown ${kind.enum} ${v}`);
      return v;
    }
    if (typeof kind === 'object') {
      const count = this.get('u16', name);
      const items = [];
      for (let i = 0; i < count; i++) items.push(this.fields(kind.list));
      return items;
    }
    switch (kind) {
      case 'u8': {
        this.need(1, name);
        return this.view.getUint8(this.pos++);
      }
      case 'bool': {
        const v = this.get('u8', name);
        if (v > 1) throw new ProtocolError(`${name}: invalid bool ${v}`);
        return v === 1;
      }
      case 'u16': {
        this.need(2, name);
        const v = this.view.getUint16(this.pos, true);
        this.pos += 2;
        return v;
      }
      case 'i16': {
        this.need(2, name);
        const v = this.view.getInt16(this.pos, true);
        this.pos += 2;
        return v;
      }
      case 'u32': {
        this.need(4, name);
        const v = this.view.getUint32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case 'bytes': {
        const len = this.get('u32', name);
        this.need(len, name);
        const v = this.bytes.subarray(this.pos, this.pos + len);
        this.pos += len;
        return v;
      }
      case 'str': {
        const bytes = this.get('bytes', name);
        try {
          return utf8Decoder.decode(bytes);
        } catch {
          throw new ProtocolError(`${name}: invalid UTF-8`);
        }
      }
    }
  }

  /** @param {Field[]} fields */
  fields(fields) {
    /** @type {Record<string, any>} */
    const obj = {};
    for (const [name, kind] of fields) obj[name] = this.get(kind, name);
    return obj;
  }
}

/**
 * @param {Record<string, [number, Field[]]>} table
 * @param {{type: string, [k: string]: any}} msg
 */
function encodeWith(table, msg) {
  const entry = table[msg.type];
  if (!entry) throw new ProtocolError(`unknown message type ${msg.type}`);
  const w = new Writer();
  w.put('u8', entry[0], 'type');
  w.fields(entry[1], msg);
  return w.finish();
}

/**
 * @param {Map<number, [string, Field[]]>} byByte
 * @param {ArrayBuffer | Uint8Array} data
 */
function decodeWith(byByte, data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const r = new Reader(bytes);
  const typeByte = r.get('u8', 'type');
  const entry = byByte.get(typeByte);
  if (!entry) throw new ProtocolError(`unknown message type 0x${typeByte.toString(16)}`);
  const msg = { type: entry[0], ...r.fields(entry[1]) };
  if (r.pos !== bytes.length) throw new ProtocolError(`${bytes.length - r.pos} trailing bytes after ${entry[0]}`);
  return msg;
}

/** @param {{type: string, [k: string]: any}} msg @returns {Uint8Array} */
export const encodeClient = (msg) => encodeWith(CLIENT_MESSAGES, msg);
/** @param {{type: string, [k: string]: any}} msg @returns {Uint8Array} */
export const encodeServer = (msg) => encodeWith(SERVER_MESSAGES, msg);
/** @param {ArrayBuffer | Uint8Array} data @returns {{type: string, [k: string]: any}} */
export const decodeClient = (data) => decodeWith(CLIENT_BY_BYTE, data);
/** @param {ArrayBuffer | Uint8Array} data @returns {{type: string, [k: string]: any}} */
export const decodeServer = (data) => decodeWith(SERVER_BY_BYTE, data);
