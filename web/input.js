// Pointer, keyboard, text and clipboard input: browser events -> protocol messages.

/** Clipboard text larger than this is cut before it crosses (docs/protocol.md). */
export const CLIPBOARD_LIMIT = 256 * 1024;
/** Wheel travel in CSS pixels that makes one notch (X wheel buttons are discrete). */
const PIXELS_PER_NOTCH = 50;
/** Browsers in line mode report 3 lines per physical notch. */
const LINES_PER_NOTCH = 3;

/** Browser MouseEvent.button -> X button number. */
const X_BUTTON = [1, 2, 3, 8, 9];
/** Browser MouseEvent.button -> its bit in MouseEvent.buttons. */
const BUTTONS_BIT = [1, 4, 2, 8, 16];

/** Keys whose text comes through the hidden textarea, not as a key press. */
const TEXT_ONLY_KEYS = new Set(['Dead', 'Process', 'Unidentified', '']);

/** Modifier `code` -> the getModifierState name that says it is still down. */
const MODIFIER_STATE = {
  ShiftLeft: 'Shift', ShiftRight: 'Shift',
  ControlLeft: 'Control', ControlRight: 'Control',
  AltLeft: 'Alt', AltRight: 'Alt',
  MetaLeft: 'Meta', MetaRight: 'Meta', OSLeft: 'Meta', OSRight: 'Meta',
};

/**
 * A `key` the agent can map: a single Unicode scalar, or a named key such as
 * "ArrowUp" (UI Events key values are ASCII words starting with a capital).
 * @param {string} key
 */
function isKeyValue(key) {
  return [...key].length === 1 || /^[A-Z][A-Za-z0-9]+$/.test(key);
}

/**
 * Cut `text` to at most `limit` UTF-8 bytes without splitting a character.
 * @param {string} text
 * @param {number} limit
 */
export function truncateUtf8(text, limit) {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= limit) return text;
  let end = limit;
  // Back off continuation bytes (10xxxxxx) to a character boundary.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

/**
 * @typedef {{type: string, [k: string]: any}} Message
 * @typedef {{
 *   canvas: HTMLCanvasElement,
 *   textarea: HTMLTextAreaElement,
 *   send: (msg: Message) => void,
 *   onTyped: () => void,
 *   onStatsToggle: () => void,
 * }} InputOptions
 */

export class Input {
  /** @param {InputOptions} opts */
  constructor(opts) {
    this.canvas = opts.canvas;
    this.textarea = opts.textarea;
    this.send = opts.send;
    this.onTyped = opts.onTyped;
    this.onStatsToggle = opts.onStatsToggle;

    /** @type {{x: number, y: number} | null} position not yet sent */
    this.pendingMove = null;
    this.moveScheduled = false;
    this.lastPos = { x: 0, y: 0 };
    /** X buttons we pressed */
    this.buttons = new Set();
    this.wheelX = 0;
    this.wheelY = 0;
    /** @type {Map<string, {code: string, key: string}>} keys we pressed, by code */
    this.keys = new Map();
    /** codes whose keydown we kept for ourselves; their keyup is swallowed too */
    this.swallowed = new Set();
    /** @type {{code: string, key: string} | null} Ctrl+V waiting for its paste event */
    this.pendingPaste = null;
    /** @type {string | null} the clipboard text both sides last agreed on */
    this.sharedClipboard = null;

    this.listen();
  }

  listen() {
    const { canvas, textarea } = this;
    canvas.addEventListener('pointermove', (e) => this.onPointerMove(e));
    canvas.addEventListener('pointerdown', (e) => this.onPointerButton(e));
    canvas.addEventListener('pointerup', (e) => this.onPointerButton(e));
    canvas.addEventListener('pointercancel', (e) => this.onPointerButton(e));
    canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    // Middle click must not paste or autoscroll in the browser.
    canvas.addEventListener('auxclick', (e) => e.preventDefault());

    window.addEventListener('keydown', (e) => this.onKeyDown(e), true);
    window.addEventListener('keyup', (e) => this.onKeyUp(e), true);
    textarea.addEventListener('input', (e) => {
      if (!(/** @type {InputEvent} */ (e).isComposing)) this.flushText();
    });
    textarea.addEventListener('compositionend', () => this.flushText());
    document.addEventListener('paste', (e) => this.onPaste(e), true);

    window.addEventListener('blur', () => this.releaseAll());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.releaseAll();
    });
    window.addEventListener('focus', () => {
      this.focus();
      this.pullClipboard(false);
    });
  }

  /** Keep the hidden textarea focused so text input and paste reach us. */
  focus() {
    if (document.activeElement !== this.textarea) this.textarea.focus({ preventScroll: true });
  }

  /**
   * Screen coordinates of a pointer event on the canvas (device pixels).
   * @param {MouseEvent} e
   */
  toScreen(e) {
    const { canvas } = this;
    const sx = canvas.width / (canvas.clientWidth || 1);
    const sy = canvas.height / (canvas.clientHeight || 1);
    const x = Math.min(Math.max(Math.floor(e.offsetX * sx), 0), Math.max(canvas.width - 1, 0));
    const y = Math.min(Math.max(Math.floor(e.offsetY * sy), 0), Math.max(canvas.height - 1, 0));
    return { x, y };
  }

  /** @param {PointerEvent} e */
  onPointerMove(e) {
    // A second button pressed or released while another is held arrives as a
    // pointermove with `button` set (Pointer Events "chorded buttons").
    if (e.button >= 0) {
      this.onPointerButton(e);
      return;
    }
    this.lastPos = this.toScreen(e);
    this.pendingMove = this.lastPos;
    if (!this.moveScheduled) {
      this.moveScheduled = true;
      requestAnimationFrame(() => {
        this.moveScheduled = false;
        this.flushMove();
      });
    }
  }

  flushMove() {
    if (!this.pendingMove) return;
    this.send({ type: 'PointerMove', ...this.pendingMove });
    this.pendingMove = null;
  }

  /** @param {PointerEvent} e */
  onPointerButton(e) {
    const button = X_BUTTON[e.button];
    if (button === undefined) return;
    const pressed = e.type === 'pointerdown' || (e.type === 'pointermove' && (e.buttons & BUTTONS_BIT[e.button]) !== 0);
    if (e.type === 'pointerdown') {
      e.preventDefault();
      this.focus();
      this.canvas.setPointerCapture(e.pointerId);
    }
    this.syncModifiers(e, '');
    if (pressed === this.buttons.has(button)) return;
    if (pressed) this.buttons.add(button);
    else this.buttons.delete(button);
    this.pendingMove = null;
    this.lastPos = this.toScreen(e);
    this.send({ type: 'PointerButton', button, pressed, ...this.lastPos });
  }

  /** @param {WheelEvent} e */
  onWheel(e) {
    e.preventDefault();
    const unit = e.deltaMode === WheelEvent.DOM_DELTA_LINE
      ? PIXELS_PER_NOTCH / LINES_PER_NOTCH
      : e.deltaMode === WheelEvent.DOM_DELTA_PAGE
        ? this.canvas.clientHeight
        : 1;
    this.wheelX += e.deltaX * unit;
    this.wheelY += e.deltaY * unit;
    const dx = Math.trunc(this.wheelX / PIXELS_PER_NOTCH);
    const dy = Math.trunc(this.wheelY / PIXELS_PER_NOTCH);
    if (dx === 0 && dy === 0) return;
    this.wheelX -= dx * PIXELS_PER_NOTCH;
    this.wheelY -= dy * PIXELS_PER_NOTCH;
    // The wheel scrolls whatever is under the pointer: move there first.
    this.pendingMove = this.toScreen(e);
    this.flushMove();
    const clamp = (/** @type {number} */ n) => Math.max(-0x8000, Math.min(0x7fff, n));
    this.send({ type: 'Wheel', dx: clamp(dx), dy: clamp(dy) });
  }

  /**
   * Keys typed in our own UI (toolbar, overlays) stay there.
   * @param {KeyboardEvent} e
   */
  forwardable(e) {
    const target = /** @type {Element | null} */ (e.target);
    return !(target instanceof Element && target.closest('[data-porthole-ui]'));
  }

  /** @param {KeyboardEvent} e */
  onKeyDown(e) {
    if (!this.forwardable(e)) return;
    if (e.ctrlKey && e.altKey && e.shiftKey && e.code === 'KeyS') {
      e.preventDefault();
      this.swallowed.add(e.code);
      if (!e.repeat) this.onStatsToggle();
      return;
    }
    this.syncModifiers(e, e.code);
    // Dead keys and IME composition: the committed text arrives via the textarea.
    if (e.isComposing || e.keyCode === 229 || TEXT_ONLY_KEYS.has(e.key)) return;
    if ((e.ctrlKey || e.metaKey) && !e.altKey && e.code === 'KeyV') {
      // Let the browser fire `paste` so the app pastes the browser's clipboard.
      this.pendingPaste = { code: e.code, key: e.key };
      return;
    }
    e.preventDefault();
    if (!isKeyValue(e.key)) {
      this.sendText(e.key);
      return;
    }
    this.press(e.code, e.key);
  }

  /** @param {KeyboardEvent} e */
  onKeyUp(e) {
    if (this.swallowed.delete(e.code)) {
      e.preventDefault();
      return;
    }
    if (!this.forwardable(e)) return;
    this.syncModifiers(e, e.code);
    if (this.pendingPaste && this.pendingPaste.code === e.code) {
      // No paste event came (nothing pasteable): the app still gets its Ctrl+V.
      this.press(this.pendingPaste.code, this.pendingPaste.key);
      this.pendingPaste = null;
    }
    const id = e.code || e.key;
    if (!this.keys.has(id)) return;
    e.preventDefault();
    this.release(id);
  }

  /** @param {string} code @param {string} key */
  press(code, key) {
    // Releases are sent with the press-time key: Shift+1 goes down as '!' and
    // must come up as '!' even if Shift was released first.
    this.keys.set(code || key, { code, key });
    this.send({ type: 'Key', pressed: true, code, key });
    this.onTyped();
  }

  /** @param {string} id */
  release(id) {
    const held = this.keys.get(id);
    if (!held) return;
    this.keys.delete(id);
    this.send({ type: 'Key', pressed: false, code: held.code, key: held.key });
  }

  /**
   * Release modifiers the browser says are up (their keyup went elsewhere,
   * e.g. to another window during Alt+Tab).
   * @param {KeyboardEvent | MouseEvent} e
   * @param {string} except the code this event is about
   */
  syncModifiers(e, except) {
    for (const [id, held] of [...this.keys]) {
      const state = MODIFIER_STATE[/** @type {keyof MODIFIER_STATE} */ (held.code)];
      if (!state || held.code === except) continue;
      const name = held.key === 'AltGraph' ? 'AltGraph' : state;
      const down = e.getModifierState(name) || (name === 'Meta' && e.getModifierState('OS'));
      if (!down) this.release(id);
    }
  }

  /** Send what the textarea collected (IME commits, dead keys, insertText). */
  flushText() {
    const text = this.textarea.value;
    if (!text) return;
    this.textarea.value = '';
    this.sendText(text);
  }

  /** @param {string} text */
  sendText(text) {
    this.send({ type: 'Text', text });
    this.onTyped();
  }

  /** @param {ClipboardEvent} e */
  onPaste(e) {
    if (!this.forwardable(e)) return;
    // The text goes to the X clipboard, not into the textarea (it would be typed).
    e.preventDefault();
    const text = e.clipboardData?.getData('text/plain') ?? '';
    if (text) this.setClipboard(text, true);
    if (this.pendingPaste) {
      this.press(this.pendingPaste.code, this.pendingPaste.key);
      this.pendingPaste = null;
    }
  }

  /**
   * The browser's clipboard becomes the X clipboard.
   * @param {string} text
   * @param {boolean} force send even if it is what both sides already have
   */
  setClipboard(text, force) {
    const cut = truncateUtf8(text, CLIPBOARD_LIMIT);
    if (!force && cut === this.sharedClipboard) return;
    this.sharedClipboard = cut;
    this.send({ type: 'ClipboardSet', text: cut });
  }

  /**
   * Read the browser clipboard (needs permission or a user gesture) and send it.
   * @param {boolean} force
   */
  async pullClipboard(force) {
    try {
      const text = await navigator.clipboard.readText();
      if (text) this.setClipboard(text, force);
    } catch {
      // No permission: the paste event remains the way in.
    }
  }

  /**
   * The X clipboard changed.
   * @param {string} text
   */
  agentClipboard(text) {
    this.sharedClipboard = text;
    navigator.clipboard?.writeText(text).catch(() => {
      // Needs focus or permission; window.porthole.clipboardText still has it.
    });
  }

  /** Forget everything held and tell the agent to release it too. */
  releaseAll() {
    this.reset();
    this.swallowed.clear();
    this.send({ type: 'ReleaseAll' });
  }

  /** The connection was lost: the agent released everything already. */
  reset() {
    this.keys.clear();
    this.buttons.clear();
    this.pendingPaste = null;
    this.pendingMove = null;
    this.wheelX = 0;
    this.wheelY = 0;
  }
}
