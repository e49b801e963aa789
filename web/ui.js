// The page chrome around the remote screen: toolbar, window switcher, banner,
// disconnected overlay and the stats overlay.

import { NoticeKind } from './protocol.js';
import { wallNow } from './stream.js';
import { $ } from './dom.js';

/** How long the toolbar stays after the pointer leaves it. */
const TOOLBAR_HIDE_MS = 800;

/**
 * @typedef {{id: number, x: number, y: number, width: number, height: number, focused: boolean, title: string}} WindowInfo
 * @typedef {{framesPainted: number, bytesReceived: number, fps: number, kbps: number, rttMs: number | null, inputLatencyMs: number | null}} Stats
 * @typedef {{
 *   onFocusWindow: (id: number) => void,
 *   onSendClipboard: () => void,
 *   onDisconnect: () => void,
 *   onEndSession: () => void,
 *   onReconnect: () => void,
 *   onDone: () => void,
 * }} UiHooks  onDone: a UI control finished; give the keyboard back to the screen
 */

export class Ui {
  /** @param {UiHooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {HTMLElement} */ this.toolbar = $('toolbar');
    /** @type {HTMLSelectElement} */ this.switcher = $('window-switcher');
    /** @type {HTMLElement} */ this.banner = $('banner');
    /** @type {HTMLElement} */ this.stats = $('stats');
    /** @type {HTMLElement} */ this.overlay = $('overlay');
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.hideTimer = undefined;
    this.notice = this.makeNotice();
    /** @type {number | null} the NoticeKind shown */
    this.noticeKind = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.noticeTimer = undefined;
    this.wire();
  }

  wire() {
    const { hooks } = this;
    $('toolbar-handle').addEventListener('pointerenter', () => this.showToolbar());
    this.toolbar.addEventListener('pointerenter', () => this.showToolbar());
    this.toolbar.addEventListener('pointerleave', () => this.hideToolbarSoon());

    $('btn-fullscreen').addEventListener('click', () => this.toggleFullscreen().finally(hooks.onDone));
    $('btn-clipboard').addEventListener('click', () => {
      hooks.onSendClipboard();
      hooks.onDone();
    });
    $('btn-stats').addEventListener('click', () => {
      this.toggleStats();
      hooks.onDone();
    });
    $('btn-disconnect').addEventListener('click', () => hooks.onDisconnect());
    $('btn-end').addEventListener('click', () => {
      // As AppStream asks: the session's applications close with it.
      if (window.confirm('End your session? Its applications close; unsaved work is lost.')) hooks.onEndSession();
      else hooks.onDone();
    });
    $('btn-reconnect').addEventListener('click', () => {
      this.hideOverlay();
      hooks.onReconnect();
      hooks.onDone();
    });
    this.switcher.addEventListener('change', () => {
      const id = Number(this.switcher.value);
      this.switcher.value = '';
      if (this.switcher.selectedIndex < 0) this.switcher.selectedIndex = 0;
      if (Number.isInteger(id) && id > 0) hooks.onFocusWindow(id);
      hooks.onDone();
    });

    // Show the toolbar briefly so users learn where it lives.
    this.showToolbar();
    this.hideToolbarSoon(2000);
  }

  showToolbar() {
    clearTimeout(this.hideTimer);
    this.toolbar.classList.add('shown');
  }

  hideToolbarSoon(delay = TOOLBAR_HIDE_MS) {
    clearTimeout(this.hideTimer);
    this.hideTimer = setTimeout(() => {
      // An open dropdown keeps the toolbar.
      if (document.activeElement === this.switcher) return;
      this.toolbar.classList.remove('shown');
    }, delay);
  }

  async toggleFullscreen() {
    try {
      if (document.fullscreenElement) {
        await document.exitFullscreen();
        return;
      }
      await document.documentElement.requestFullscreen();
      // In fullscreen, Ctrl+W, Alt+Tab-like and Escape shortcuts can go to the app.
      // @ts-ignore: Keyboard Lock is not in every DOM typing yet.
      await navigator.keyboard?.lock?.();
    } catch (err) {
      console.warn('porthole: fullscreen', err);
    }
  }

  /** @param {WindowInfo[]} windows bottom to top */
  setWindows(windows) {
    const options = [new Option('Windows', '')];
    // Topmost first: that is what a switcher user looks for.
    for (const w of [...windows].reverse()) {
      const label = `${w.focused ? '● ' : ''}${w.title || `Window 0x${w.id.toString(16)}`}`;
      options.push(new Option(label, String(w.id)));
    }
    this.switcher.replaceChildren(...options);
    this.switcher.selectedIndex = 0;
  }

  /** @param {string} text */
  showBanner(text) {
    this.banner.textContent = text;
    this.banner.hidden = false;
  }

  hideBanner() {
    this.banner.hidden = true;
  }

  /** The warning banner (dismissable, with the time left counting down). */
  makeNotice() {
    const box = document.createElement('div');
    box.id = 'notice';
    box.dataset.portholeUi = '';
    box.setAttribute('role', 'alert');
    box.hidden = true;
    const text = document.createElement('span');
    const left = document.createElement('strong');
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = '×';
    close.title = 'Dismiss';
    close.addEventListener('click', () => {
      this.dismissNotice();
      this.hooks.onDone();
    });
    box.append(text, left, close);
    document.body.append(box);
    return { box, text, left };
  }

  /** @param {{kind: number, text: string, deadline: number}} notice deadline: wallNow() when the time is up */
  showNotice(notice) {
    const { box, text, left } = this.notice;
    this.noticeKind = notice.kind;
    text.textContent = notice.text;
    // A full home folder or a failed script is a state, not a countdown.
    const countdown = notice.kind !== NoticeKind.HomeFolderFull && notice.kind !== NoticeKind.SessionScriptFailed;
    const update = () => {
      if (!countdown) {
        left.textContent = '';
        return;
      }
      const secs = Math.max(0, Math.ceil((notice.deadline - wallNow()) / 1000));
      left.textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')} left`;
      if (secs === 0) clearInterval(this.noticeTimer);
    };
    clearInterval(this.noticeTimer);
    update();
    this.noticeTimer = setInterval(update, 1000);
    box.hidden = false;
  }

  /** @param {number} [kind] only a notice of this NoticeKind; all without */
  dismissNotice(kind) {
    if (this.noticeKind === null || (kind !== undefined && kind !== this.noticeKind)) return;
    clearInterval(this.noticeTimer);
    this.noticeKind = null;
    this.notice.box.hidden = true;
  }

  /** @param {string} title @param {string} detail */
  showOverlay(title, detail) {
    $('overlay-title').textContent = title;
    $('overlay-detail').textContent = detail;
    this.overlay.hidden = false;
  }

  hideOverlay() {
    this.overlay.hidden = true;
  }

  toggleStats() {
    this.stats.hidden = !this.stats.hidden;
  }

  /** @param {Stats} s */
  /** The page belongs to a session of porthole serve, which the user may end. */
  offerEndSession() {
    $('btn-end').hidden = false;
  }

  updateStats(s) {
    if (this.stats.hidden) return;
    const ms = (/** @type {number | null} */ v) => (v === null ? '-' : `${v.toFixed(1)} ms`);
    this.stats.textContent = [
      `fps      ${s.fps.toFixed(0)}`,
      `KB/s     ${(s.kbps / 8).toFixed(1)}`,
      `RTT      ${ms(s.rttMs)}`,
      `input    ${ms(s.inputLatencyMs)}`,
      `frames   ${s.framesPainted}`,
    ].join('\n');
  }
}
