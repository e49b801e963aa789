// Entry point: the page side of the client. Input, UI, clipboard, cursor and
// layout live here; the connection, decoding and painting (web/stream.js) run in
// a worker on an OffscreenCanvas where the browser allows it, else right here.
// Exposes window.porthole for tests and the benchmark.
import { worker, listenToWorker, wsUrl, dpr, viewportSize } from './boot.js';
import { Stream, wallNow } from './stream.js';
import { Input } from './input.js';
import { Ui } from './ui.js';
import { Catalog } from './catalog.js';
import { Files } from './files.js';
import { ImageAssistant } from './image-assistant.js';
import { NoticeKind } from './protocol.js';

const RESIZE_DEBOUNCE_MS = 150;
const ACTIVITY = new Set(['PointerMove', 'PointerButton', 'Wheel', 'Key', 'Text', 'Resize', 'ClipboardSet']);

const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('screen'));
const textarea = /** @type {HTMLTextAreaElement} */ (document.getElementById('text-input'));

/**
 * @typedef {{type: string, [k: string]: any}} Message
 * @typedef {import('./stream.js').StreamEvent} StreamEvent
 * @typedef {import('./stream.js').Size} Size
 * @typedef {Pick<Stream, 'send' | 'typed' | 'setViewport' | 'disconnect' | 'reconnect'>} Backend
 */

const porthole = {
  /** @type {'connecting' | 'streaming' | 'closed'} */
  state: 'connecting',
  /** @type {string | null} */
  closeReason: null,
  screen: { width: 0, height: 0 },
  /** @type {import('./stream.js').Stats} */
  stats: {
    framesPainted: 0,
    bytesReceived: 0,
    fps: 0,
    kbps: 0,
    rttMs: null,
    inputLatencyMs: null,
    timeline: {},
  },
  /** @type {Message[]} */
  windows: [],
  /** Warnings received (Notice messages), oldest first. @type {import('./stream.js').Notice[]} */
  notices: [],
  /** @type {string | null} */
  clipboardText: null,
  /** the session's application catalog (web/catalog.js) @type {import('./catalog.js').CatalogState | null} */
  catalog: null,
  /** My Files (web/files.js) @type {import('./files.js').FilesState | null} */
  files: null,
  /** an image builder's Image Assistant (web/image-assistant.js) @type {import('./image-assistant.js').ImageAssistantState | null} */
  imageAssistant: null,
  /** whether the one running worker or Stream paints (tests and diagnostics) */
  offscreen: false,
  /** @param {Message} msg @returns {boolean} whether it went out */
  send: (msg) => send(msg),
};
// @ts-ignore: test hook
window.porthole = porthole;

/** @type {Backend | null} */
let backend = null;

const input = new Input({
  canvas,
  textarea,
  send,
  onTyped: () => backend?.typed(wallNow()),
  onStatsToggle: () => ui.toggleStats(),
});
const ui = new Ui({
  onFocusWindow: (id) => send({ type: 'FocusWindow', window: id }),
  onSendClipboard: () => input.pullClipboard(true),
  onDisconnect: () => backend?.disconnect(),
  onEndSession: () => endSession(),
  onReconnect: () => backend?.reconnect(),
  onDone: () => input.focus(),
});
const catalog = new Catalog({ onDone: () => input.focus() });
porthole.catalog = catalog.state;
const files = new Files({
  onDone: () => input.focus(),
  onRoom: () => ui.dismissNotice(NoticeKind.HomeFolderFull),
});
porthole.files = files.state;
const imageAssistant = new ImageAssistant({ onDone: () => input.focus() });
porthole.imageAssistant = imageAssistant.state;
/** My Files and the Image Assistant are looked for once the session streams (its home
 * folder is attached, its session active by then). */
let panelsProbed = false;

function probePanels() {
  if (panelsProbed) return;
  panelsProbed = true;
  files.probe();
  imageAssistant.probe();
}

/** Asks the server to end the session; its Goodbye then closes the stream, saying so. */
async function endSession() {
  const res = await fetch(new URL('end', location.href), { method: 'POST' }).catch(() => null);
  if (!res?.ok) console.error('porthole: ending the session failed', res ? await res.text() : 'no answer');
}

/** @param {Message} msg */
function send(msg) {
  // The server counts these as activity (crates/server/src/gateway.rs, is_input):
  // an idle warning no longer holds.
  if (ACTIVITY.has(msg.type)) ui.dismissNotice(NoticeKind.IdleDisconnect);
  return backend ? backend.send(msg) : false;
}


/**
 * CSS size = device size / dpr (sharp on HiDPI), shrunk to fit if the screen is larger.
 * From porthole.screen: a canvas painted by the worker shows its new size only later.
 */
function layoutCanvas() {
  if (porthole.screen.width === 0) return;
  const cssW = porthole.screen.width / dpr();
  const cssH = porthole.screen.height / dpr();
  const fit = Math.min(1, window.innerWidth / cssW, window.innerHeight / cssH);
  canvas.style.width = `${cssW * fit}px`;
  canvas.style.height = `${cssH * fit}px`;
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

/** @param {StreamEvent} ev */
function onStreamEvent(ev) {
  switch (ev.type) {
    case 'connecting':
      porthole.state = 'connecting';
      return;
    case 'open':
      return;
    case 'streaming':
      porthole.state = 'streaming';
      porthole.closeReason = null;
      ui.hideBanner();
      ui.hideOverlay();
      ui.dismissNotice(NoticeKind.Disconnected);
      if (catalog.state.available) probePanels();
      return;
    case 'lost':
      input.reset();
      porthole.state = 'connecting';
      porthole.closeReason = ev.reason;
      ui.showBanner(`Connection lost, reconnecting in ${(ev.retryMs / 1000).toFixed(1)} s…`);
      return;
    case 'closed':
      input.reset();
      porthole.state = 'closed';
      porthole.closeReason = ev.reason;
      ui.hideBanner();
      // Warnings are moot now; the time left to resume (Disconnected) stays.
      ui.dismissNotice(NoticeKind.IdleDisconnect);
      ui.dismissNotice(NoticeKind.SessionEnding);
      ui.showOverlay(ev.title, ev.reason);
      return;
    case 'screen':
      porthole.screen = { width: ev.width, height: ev.height };
      layoutCanvas();
      return;
    case 'cursor':
      setCursor(ev.cursor);
      return;
    case 'clipboard':
      porthole.clipboardText = ev.text;
      input.agentClipboard(ev.text);
      return;
    case 'windows':
      porthole.windows = ev.windows;
      ui.setWindows(ev.windows);
      catalog.windowsChanged(ev.windows);
      return;
    case 'notice':
      porthole.notices.push(ev.notice);
      ui.showNotice(ev.notice);
      return;
    case 'stats':
      Object.assign(porthole.stats, ev.stats);
      ui.updateStats(porthole.stats);
      return;
  }
}

/**
 * The stream in a worker: messages go there, events come back. `send` reports
 * whether the connection was open when last heard of.
 * @param {Worker} worker started by boot.js with the canvas, its connection already on its way
 * @returns {Backend}
 */
function streamInWorker(worker) {
  let open = false;
  listenToWorker((/** @type {MessageEvent<StreamEvent>} */ e) => {
    if (e.data.type === 'open') open = true;
    else if (['connecting', 'lost', 'closed'].includes(e.data.type)) open = false;
    onStreamEvent(e.data);
  });
  worker.onerror = (e) => console.error('porthole: the stream worker failed', e.message);
  const post = (/** @type {object} */ m) => worker.postMessage(m);
  return {
    send: (msg) => {
      if (open) post({ op: 'send', msg });
      return open;
    },
    typed: (at) => post({ op: 'typed', at }),
    setViewport: (size) => post({ op: 'viewport', size }),
    disconnect: () => post({ op: 'disconnect' }),
    reconnect: () => post({ op: 'reconnect' }),
  };
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  layoutCanvas();
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => backend?.setViewport(viewportSize()), RESIZE_DEBOUNCE_MS);
});

function main() {
  input.focus();
  porthole.offscreen = worker !== null;
  if (worker) {
    backend = streamInWorker(worker);
  } else {
    const stream = new Stream(canvas, { wsUrl, viewport: viewportSize(), emit: onStreamEvent });
    backend = stream;
    stream.start();
  }
  // Only a session's page has a catalog (not `porthole stream`'s).
  catalog.load().then(() => {
    if (!catalog.state.available) return;
    ui.offerEndSession();
    if (porthole.state === 'streaming') probePanels();
  });
}

main();
