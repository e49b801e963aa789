// The connection to the agent: WebSocket, protocol decoding, painting, FrameAck,
// Ping, reconnects. It runs in web/worker.js on an OffscreenCanvas (so frames are
// handled and painted while the page's main thread is busy or, after a keydown,
// held back until the next rendering) or, in browsers without that, on the page's
// own canvas in the main thread. Either way it talks to web/client.js only
// through `emit` (events below) and its methods.
import { CODEC_H264, CODEC_WEBP, NoticeKind, PROTOCOL_VERSION, decodeServer, encodeClient } from './protocol.js';
import { Display, h264Supported, webpSupported } from './display.js';

const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 5000;
const TICK_MS = 1000;
/** A broken video stream asks for a refresh at most this often. */
const REFRESH_MIN_INTERVAL_MS = 250;

/**
 * @typedef {{type: string, [k: string]: any}} Message
 * @typedef {{width: number, height: number}} Size
 * @typedef {{framesPainted: number, bytesReceived: number, fps: number, kbps: number, rttMs: number | null, inputLatencyMs: number | null, timeline: Timeline}} Stats
 * @typedef {{start?: number, wsCreated?: number, wsOpen?: number, hello?: number, firstMessage?: number, firstFrameMessage?: number, firstPaint?: number}} Timeline
 *   wallNow() of the first connection's milestones (the session-start benchmark reads them)
 * @typedef {{type: 'connecting'}
 *   | {type: 'open'}
 *   | {type: 'streaming'}
 *   | {type: 'lost', reason: string, retryMs: number}
 *   | {type: 'closed', title: string, reason: string}
 *   | {type: 'screen', width: number, height: number}
 *   | {type: 'cursor', cursor: Message}
 *   | {type: 'clipboard', text: string}
 *   | {type: 'windows', windows: Message[]}
 *   | {type: 'notice', notice: Notice}
 *   | {type: 'stats', stats: Stats}} StreamEvent
 *   lost: the connection dropped and is retried in retryMs; closed: for good (Goodbye or disconnect)
 * @typedef {{kind: number, seconds_left: number, text: string, deadline: number}} Notice
 *   a warning (NoticeKind) as received; deadline: wallNow() when the time is up
 * @typedef {{
 *   ws: WebSocket,
 *   goodbye: string | null,
 *   resumable: boolean,
 *   userClosed: boolean,
 *   paintQueue: Promise<void>,
 * }} Connection
 * @typedef {{ws: WebSocket, createdAt: number, missed: Event[]}} EarlySocket
 *   a socket opened before its Stream existed, with the events it had meanwhile
 */

/** Milliseconds since the epoch, comparable between a page and its workers (their performance.now() origins differ). */
export const wallNow = () => performance.timeOrigin + performance.now();
/** When an event happened, as wallNow() (it may be handled later). @param {Event} ev */
const eventTime = (ev) => performance.timeOrigin + ev.timeStamp;

export class Stream {
  /**
   * @param {HTMLCanvasElement | OffscreenCanvas} canvas
   * @param {{wsUrl: string, viewport: Size, emit: (ev: StreamEvent) => void}} opts
   */
  constructor(canvas, { wsUrl, viewport, emit }) {
    this.wsUrl = wsUrl;
    this.viewport = viewport;
    this.emit = emit;
    this.display = new Display(canvas, { onRefreshNeeded: () => this.requestRefresh() });
    /** @type {Connection | null} */
    this.conn = null;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    this.codecs = 0;
    /** @type {number | null} wallNow() of the first input since the last painted frame */
    this.typedAt = null;
    this.lastRefreshAt = -Infinity;
    /** @type {Size | null} */
    this.requestedSize = null;
    /** @type {Stats} */
    this.stats = { framesPainted: 0, bytesReceived: 0, fps: 0, kbps: 0, rttMs: null, inputLatencyMs: null, timeline: { start: wallNow() } };
    /** Settles once we know what we can decode: Hello waits for it, the connection does not. */
    this.codecsKnown = Promise.all([h264Supported(), webpSupported()]).then(([h264, webp]) => {
      this.codecs = (h264 ? CODEC_H264 : 0) | (webp ? CODEC_WEBP : 0);
    });
  }

  /**
   * Connect at once (the codec probes run meanwhile), or take over a socket
   * already connecting, and keep the stats ticking.
   * @param {EarlySocket | null} early
   */
  start(early = null) {
    this.tick();
    this.connect(early);
  }

  /** @param {keyof Timeline} milestone @param {number} at wallNow() time */
  mark(milestone, at = wallNow()) {
    this.stats.timeline[milestone] ??= at;
  }

  /** @param {Message} msg @returns {boolean} whether it went out */
  send(msg) {
    return this.sendOn(this.conn, msg);
  }

  /** @param {Connection | null} c @param {Message} msg */
  sendOn(c, msg) {
    if (!c || c.ws.readyState !== WebSocket.OPEN) return false;
    c.ws.send(encodeClient(msg));
    return true;
  }

  /** Input went out at `at` (wallNow()); the next painted frame measures the latency. */
  typed(at) {
    this.typedAt ??= at;
  }

  /** @param {Size} size the viewport in device pixels: the screen size we want */
  setViewport(size) {
    this.viewport = size;
    this.sendResize();
  }

  sendResize() {
    const size = this.viewport;
    const asked = this.requestedSize;
    if (asked && size.width === asked.width && size.height === asked.height) return;
    if (this.send({ type: 'Resize', ...size })) this.requestedSize = size;
  }

  requestRefresh() {
    const now = performance.now();
    if (now - this.lastRefreshAt < REFRESH_MIN_INTERVAL_MS) return;
    this.lastRefreshAt = now;
    this.send({ type: 'RefreshRequest' });
  }

  /**
   * Screen changes are applied strictly in arrival order, each after the previous
   * one has finished painting; work for a connection that is gone is dropped.
   * @param {Connection} c
   * @param {() => void | Promise<void>} job
   */
  enqueue(c, job) {
    c.paintQueue = c.paintQueue
      .then(() => (c === this.conn ? job() : undefined))
      .catch((err) => console.error('porthole: painting failed', err));
  }

  /** @param {Connection} c @param {Message} msg */
  async paintFrame(c, msg) {
    await this.display.paint(msg.rects);
    if (msg.rects.length > 0) {
      this.mark('firstPaint');
      this.stats.framesPainted++;
      if (this.typedAt !== null) {
        this.stats.inputLatencyMs = wallNow() - this.typedAt;
        this.typedAt = null;
      }
      this.emit({ type: 'stats', stats: this.stats });
    }
    this.sendOn(c, { type: 'FrameAck', frame_id: msg.frame_id });
  }

  /** @param {Connection} c @param {Message} msg */
  handle(c, msg) {
    switch (msg.type) {
      case 'ServerHello':
        if (msg.version !== PROTOCOL_VERSION) {
          c.goodbye = `agent speaks protocol version ${msg.version}, this page ${PROTOCOL_VERSION}`;
          c.ws.close(1002);
          return;
        }
        this.reconnectDelay = RECONNECT_FIRST_MS;
        this.emit({ type: 'streaming' });
        return;
      case 'ScreenSize':
        this.enqueue(c, () => {
          this.display.setScreenSize(msg.width, msg.height);
          this.emit({ type: 'screen', width: msg.width, height: msg.height });
        });
        return;
      case 'Frame':
        this.mark('firstFrameMessage');
        this.enqueue(c, () => this.paintFrame(c, msg));
        return;
      case 'Cursor':
        this.emit({ type: 'cursor', cursor: msg });
        return;
      case 'Clipboard':
        this.emit({ type: 'clipboard', text: msg.text });
        return;
      case 'Windows':
        this.emit({ type: 'windows', windows: msg.windows });
        return;
      case 'Pong':
        this.stats.rttMs = ((Math.floor(performance.now()) >>> 0) - msg.timestamp) >>> 0;
        this.emit({ type: 'stats', stats: this.stats });
        return;
      case 'Goodbye':
        c.goodbye = msg.reason;
        return;
      case 'Notice':
        // Before a Goodbye: the session goes on, this connection does not.
        if (msg.kind === NoticeKind.Disconnected) c.resumable = true;
        this.emit({
          type: 'notice',
          notice: { kind: msg.kind, seconds_left: msg.seconds_left, text: msg.text, deadline: wallNow() + msg.seconds_left * 1000 },
        });
        return;
    }
  }

  /** @param {EarlySocket | null} early a socket opened before the Stream existed (web/worker.js) */
  connect(early = null) {
    clearTimeout(this.reconnectTimer);
    this.emit({ type: 'connecting' });
    const ws = early?.ws ?? new WebSocket(this.wsUrl);
    ws.binaryType = 'arraybuffer';
    this.mark('wsCreated', early?.createdAt);
    /** @type {Connection} */
    const c = { ws, goodbye: null, resumable: false, userClosed: false, paintQueue: Promise.resolve() };
    this.conn = c;

    ws.onopen = async (ev) => {
      this.mark('wsOpen', eventTime(ev));
      await this.codecsKnown;
      this.sendOn(c, { type: 'Hello', version: PROTOCOL_VERSION, ...this.viewport, codecs: this.codecs });
      this.mark('hello');
      this.emit({ type: 'open' });
      // Hello already carries the size; the Resize keeps agents that only act on
      // Resize in step, and is a no-op for those that honoured Hello.
      this.requestedSize = null;
      this.sendResize();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        console.error('porthole: text message from the agent');
        ws.close(1002);
        return;
      }
      this.mark('firstMessage', eventTime(ev));
      this.stats.bytesReceived += ev.data.byteLength;
      let msg;
      try {
        msg = decodeServer(ev.data);
      } catch (err) {
        console.error('porthole: malformed message from the agent', err);
        ws.close(1002);
        return;
      }
      this.handle(c, msg);
    };
    ws.onclose = (ev) => this.onClosed(c, ev.code);
    // What the early socket heard before these handlers existed, in order.
    for (const ev of early?.missed ?? []) /** @type {any} */ (ws)[`on${ev.type}`](ev);
  }

  /** The user asked to reconnect: start over without waiting. */
  reconnect() {
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.connect();
  }

  /** @param {Connection} c @param {number} code */
  onClosed(c, code) {
    if (c !== this.conn) return;
    this.display.resetVideo();
    if (c.goodbye !== null || c.userClosed) {
      const title = c.goodbye !== null && !c.resumable ? 'Session closed' : 'Disconnected';
      this.emit({ type: 'closed', title, reason: c.goodbye ?? 'disconnected' });
      return;
    }
    this.emit({ type: 'lost', reason: `connection lost (code ${code})`, retryMs: this.reconnectDelay });
    this.reconnectTimer = setTimeout(() => this.connect(), this.reconnectDelay);
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
  }

  disconnect() {
    const c = this.conn;
    if (!c) return;
    c.userClosed = true;
    if (c.ws.readyState === WebSocket.CLOSED) this.onClosed(c, 1000);
    else c.ws.close(1000);
  }

  /** Once a second: fps and bandwidth over the last second, and a Ping for the RTT. */
  tick() {
    let lastFrames = 0;
    let lastBytes = 0;
    let lastAt = performance.now();
    setInterval(() => {
      const now = performance.now();
      const secs = (now - lastAt) / 1000;
      const { stats } = this;
      stats.fps = (stats.framesPainted - lastFrames) / secs;
      stats.kbps = ((stats.bytesReceived - lastBytes) * 8) / 1000 / secs;
      lastFrames = stats.framesPainted;
      lastBytes = stats.bytesReceived;
      lastAt = now;
      this.send({ type: 'Ping', timestamp: Math.floor(now) >>> 0 });
      this.emit({ type: 'stats', stats });
    }, TICK_MS);
  }
}
