// Entry point: the connection to the agent and the glue between protocol,
// display, input and UI. Exposes window.porthole for tests and the benchmark.
import { CODEC_H264, CODEC_WEBP, PROTOCOL_VERSION, decodeServer, encodeClient } from './protocol.js';
import { Display, h264Supported, webpSupported } from './display.js';
import { Input } from './input.js';
import { Ui } from './ui.js';

const RESIZE_DEBOUNCE_MS = 150;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 5000;
const TICK_MS = 1000;
/** A broken video stream asks for a refresh at most this often. */
const REFRESH_MIN_INTERVAL_MS = 250;

/** `?scale=1`: one X pixel per CSS pixel, ignoring devicePixelRatio. */
const ignoreDpr = new URLSearchParams(location.search).get('scale') === '1';
// Relative, so that the page works at / (porthole stream) and at /session/TOKEN/ (porthole serve).
const wsUrl = new URL('ws', location.href).href.replace(/^http/, 'ws');

const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('screen'));
const textarea = /** @type {HTMLTextAreaElement} */ (document.getElementById('text-input'));

/**
 * @typedef {{type: string, [k: string]: any}} Message
 * @typedef {{
 *   ws: WebSocket,
 *   goodbye: string | null,
 *   userClosed: boolean,
 *   paintQueue: Promise<void>,
 * }} Connection
 */

const porthole = {
  /** @type {'connecting' | 'streaming' | 'closed'} */
  state: 'connecting',
  /** @type {string | null} */
  closeReason: null,
  screen: { width: 0, height: 0 },
  stats: {
    framesPainted: 0,
    bytesReceived: 0,
    fps: 0,
    kbps: 0,
    /** @type {number | null} */ rttMs: null,
    /** @type {number | null} */ inputLatencyMs: null,
  },
  /** @type {Message[]} */
  windows: [],
  /** @type {string | null} */
  clipboardText: null,
  /** @param {Message} msg @returns {boolean} whether it went out */
  send: (msg) => send(msg),
};
// @ts-ignore: test hook
window.porthole = porthole;

/** @type {Connection | null} */
let conn = null;
let reconnectDelay = RECONNECT_FIRST_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let reconnectTimer;
let codecs = 0;
/** @type {number | null} when the first input since the last painted frame was sent */
let typedAt = null;
let lastRefreshAt = -Infinity;
/** @type {{width: number, height: number} | null} */
let requestedSize = null;

const display = new Display(canvas, { onRefreshNeeded: requestRefresh });
const input = new Input({
  canvas,
  textarea,
  send,
  onTyped: () => {
    typedAt ??= performance.now();
  },
  onStatsToggle: () => ui.toggleStats(),
});
const ui = new Ui({
  onFocusWindow: (id) => send({ type: 'FocusWindow', window: id }),
  onSendClipboard: () => input.pullClipboard(true),
  onDisconnect: disconnect,
  onReconnect: () => {
    reconnectDelay = RECONNECT_FIRST_MS;
    connect();
  },
  onDone: () => input.focus(),
});

/** @param {Message} msg */
function send(msg) {
  return sendOn(conn, msg);
}

/** @param {Connection | null} c @param {Message} msg */
function sendOn(c, msg) {
  if (!c || c.ws.readyState !== WebSocket.OPEN) return false;
  c.ws.send(encodeClient(msg));
  return true;
}

function requestRefresh() {
  const now = performance.now();
  if (now - lastRefreshAt < REFRESH_MIN_INTERVAL_MS) return;
  lastRefreshAt = now;
  send({ type: 'RefreshRequest' });
}

function dpr() {
  return ignoreDpr ? 1 : window.devicePixelRatio || 1;
}

/** The viewport in device pixels: the screen size we ask the agent for. */
function viewportSize() {
  const clamp = (/** @type {number} */ n) => Math.min(Math.max(n, 1), 0xffff);
  return {
    width: clamp(Math.floor(window.innerWidth * dpr())),
    height: clamp(Math.floor(window.innerHeight * dpr())),
  };
}

/** CSS size = device size / dpr (sharp on HiDPI), shrunk to fit if the screen is larger. */
function layoutCanvas() {
  const cssW = canvas.width / dpr();
  const cssH = canvas.height / dpr();
  const fit = Math.min(1, window.innerWidth / cssW, window.innerHeight / cssH);
  canvas.style.width = `${cssW * fit}px`;
  canvas.style.height = `${cssH * fit}px`;
}

function sendResize() {
  const size = viewportSize();
  if (requestedSize && size.width === requestedSize.width && size.height === requestedSize.height) return;
  if (send({ type: 'Resize', ...size })) requestedSize = size;
}

/** @param {Uint8Array} bytes */
function base64(bytes) {
  let binary = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** @param {Message} msg a Cursor message */
function setCursor(msg) {
  canvas.style.cursor = msg.width === 0
    ? 'none'
    : `url(data:image/png;base64,${base64(msg.png)}) ${msg.hot_x} ${msg.hot_y}, auto`;
}

/**
 * Screen changes are applied strictly in arrival order, each after the previous
 * one has finished painting; work for a connection that is gone is dropped.
 * @param {Connection} c
 * @param {() => void | Promise<void>} job
 */
function enqueue(c, job) {
  c.paintQueue = c.paintQueue
    .then(() => (c === conn ? job() : undefined))
    .catch((err) => console.error('porthole: painting failed', err));
}

/** @param {Connection} c @param {Message} msg */
async function paintFrame(c, msg) {
  await display.paint(msg.rects);
  if (msg.rects.length > 0) {
    porthole.stats.framesPainted++;
    if (typedAt !== null) {
      porthole.stats.inputLatencyMs = performance.now() - typedAt;
      typedAt = null;
    }
  }
  sendOn(c, { type: 'FrameAck', frame_id: msg.frame_id });
}

/** @param {Connection} c @param {Message} msg */
function handle(c, msg) {
  switch (msg.type) {
    case 'ServerHello':
      if (msg.version !== PROTOCOL_VERSION) {
        c.goodbye = `agent speaks protocol version ${msg.version}, this page ${PROTOCOL_VERSION}`;
        c.ws.close(1002);
        return;
      }
      porthole.state = 'streaming';
      porthole.closeReason = null;
      reconnectDelay = RECONNECT_FIRST_MS;
      ui.hideBanner();
      ui.hideOverlay();
      return;
    case 'ScreenSize':
      enqueue(c, () => {
        display.setScreenSize(msg.width, msg.height);
        porthole.screen = { width: msg.width, height: msg.height };
        layoutCanvas();
      });
      return;
    case 'Frame':
      enqueue(c, () => paintFrame(c, msg));
      return;
    case 'Cursor':
      setCursor(msg);
      return;
    case 'Clipboard':
      porthole.clipboardText = msg.text;
      input.agentClipboard(msg.text);
      return;
    case 'Windows':
      porthole.windows = msg.windows;
      ui.setWindows(msg.windows);
      return;
    case 'Pong':
      porthole.stats.rttMs = ((Math.floor(performance.now()) >>> 0) - msg.timestamp) >>> 0;
      return;
    case 'Goodbye':
      c.goodbye = msg.reason;
      return;
  }
}

function connect() {
  clearTimeout(reconnectTimer);
  porthole.state = 'connecting';
  const ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  /** @type {Connection} */
  const c = { ws, goodbye: null, userClosed: false, paintQueue: Promise.resolve() };
  conn = c;

  ws.onopen = () => {
    const size = viewportSize();
    sendOn(c, { type: 'Hello', version: PROTOCOL_VERSION, ...size, codecs });
    // Hello already carries the size; the Resize keeps agents that only act on
    // Resize in step, and is a no-op for those that honoured Hello.
    requestedSize = null;
    sendResize();
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      console.error('porthole: text message from the agent');
      ws.close(1002);
      return;
    }
    porthole.stats.bytesReceived += ev.data.byteLength;
    let msg;
    try {
      msg = decodeServer(ev.data);
    } catch (err) {
      console.error('porthole: malformed message from the agent', err);
      ws.close(1002);
      return;
    }
    handle(c, msg);
  };
  ws.onclose = (ev) => onClosed(c, ev);
}

/** @param {Connection} c @param {CloseEvent} ev */
function onClosed(c, ev) {
  if (c !== conn) return;
  input.reset();
  display.resetVideo();
  if (c.goodbye !== null || c.userClosed) {
    porthole.state = 'closed';
    porthole.closeReason = c.goodbye ?? 'disconnected';
    ui.hideBanner();
    ui.showOverlay(c.goodbye !== null ? 'Session closed' : 'Disconnected', porthole.closeReason);
    return;
  }
  porthole.state = 'connecting';
  porthole.closeReason = `connection lost (code ${ev.code})`;
  ui.showBanner(`Connection lost, reconnecting in ${(reconnectDelay / 1000).toFixed(1)} s…`);
  reconnectTimer = setTimeout(connect, reconnectDelay);
  reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
}

function disconnect() {
  if (!conn) return;
  conn.userClosed = true;
  if (conn.ws.readyState === WebSocket.CLOSED) onClosed(conn, new CloseEvent('close', { code: 1000 }));
  else conn.ws.close(1000);
}

/** Once a second: fps and bandwidth over the last second, and a Ping for the RTT. */
function tick() {
  let lastFrames = 0;
  let lastBytes = 0;
  let lastAt = performance.now();
  setInterval(() => {
    const now = performance.now();
    const secs = (now - lastAt) / 1000;
    const { stats } = porthole;
    stats.fps = (stats.framesPainted - lastFrames) / secs;
    stats.kbps = ((stats.bytesReceived - lastBytes) * 8) / 1000 / secs;
    lastFrames = stats.framesPainted;
    lastBytes = stats.bytesReceived;
    lastAt = now;
    send({ type: 'Ping', timestamp: Math.floor(now) >>> 0 });
    ui.updateStats(stats);
  }, TICK_MS);
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  layoutCanvas();
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(sendResize, RESIZE_DEBOUNCE_MS);
});

async function main() {
  const [h264, webp] = await Promise.all([h264Supported(), webpSupported()]);
  codecs = (h264 ? CODEC_H264 : 0) | (webp ? CODEC_WEBP : 0);
  input.focus();
  tick();
  connect();
}

main();
