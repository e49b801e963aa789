// The application catalog (porthole serve): a streaming URL without an
// ApplicationId opens on a page of app tiles over the empty session; picking
// one starts it, and the toolbar's Applications menu starts more apps into the
// same session at any time. Where the page has no catalog (`porthole stream`)
// all of this stays hidden.

import { $ } from './dom.js';

/**
 * @typedef {{name: string, displayName: string, iconUrl: string | null}} App
 * @typedef {{
 *   available: boolean,
 *   apps: App[],
 *   applicationId: string | null,
 *   started: string[],
 *   shown: boolean,
 *   status: string,
 * }} CatalogState  what window.porthole.catalog shows (tests)
 * @typedef {{ok: boolean, status: number, message: string}} LaunchResult
 */

export class Catalog {
  /** @param {{onDone: () => void}} hooks onDone: give the keyboard back to the screen */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {HTMLElement} */ this.overlay = $('catalog');
    /** @type {HTMLElement} */ this.grid = $('catalog-grid');
    /** @type {HTMLElement} */ this.status = $('catalog-status');
    /** @type {HTMLButtonElement} */ this.button = $('btn-apps');
    /** @type {HTMLElement} */ this.menu = $('catalog-menu');
    /** @type {CatalogState} */
    this.state = { available: false, apps: [], applicationId: null, started: [], shown: false, status: '' };
    /** A pick from the overlay is waiting for its window before the overlay goes. */
    this.awaitingWindow = false;
    this.wire();
  }

  wire() {
    this.button.addEventListener('click', () => this.toggleMenu());
    this.menu.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        this.closeMenu();
        this.button.focus();
      } else {
        moveFocus(this.menu, e);
      }
    });
    this.grid.addEventListener('keydown', (e) => moveFocus(this.grid, e));
  }

  /** Reads the session's catalog; shows it when the session has no app yet. */
  async load() {
    let body;
    try {
      const res = await fetch(new URL('catalog', location.href));
      if (!res.ok) return;
      body = await res.json();
    } catch {
      return;
    }
    Object.assign(this.state, {
      available: true,
      apps: body.applications,
      applicationId: body.applicationId,
      started: body.started,
    });
    this.grid.replaceChildren(...this.state.apps.map((app) => this.tile(app, () => this.pick(app))));
    this.menu.replaceChildren(...this.state.apps.map((app) => {
      const item = this.tile(app, () => {
        this.closeMenu();
        this.launch(app.name);
        this.hooks.onDone();
      });
      item.setAttribute('role', 'menuitem');
      return item;
    }));
    this.button.hidden = this.state.apps.length === 0;
    if (this.state.applicationId === null && this.state.started.length === 0) this.show();
  }

  /** @param {App} app @param {() => void} onClick */
  tile(app, onClick) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'app-tile';
    button.dataset.app = app.name;
    button.title = `Start ${app.displayName}`;
    const icon = appIcon(app);
    const label = document.createElement('span');
    label.textContent = app.displayName;
    button.append(icon, label);
    button.addEventListener('click', onClick);
    return button;
  }

  show() {
    this.overlay.hidden = false;
    this.state.shown = true;
    /** @type {HTMLElement | null} */ (this.grid.querySelector('button'))?.focus();
  }

  hide() {
    if (!this.state.shown) return;
    this.overlay.hidden = true;
    this.state.shown = false;
    this.hooks.onDone();
  }

  /** @param {App} app */
  async pick(app) {
    this.setStatus(`Starting ${app.displayName}…`);
    const result = await this.launch(app.name);
    if (result.ok) this.awaitingWindow = true;
    else this.setStatus(`${app.displayName} did not start: ${result.message}`);
  }

  /** @param {string} text */
  setStatus(text) {
    this.status.textContent = text;
    this.state.status = text;
  }

  /**
   * Starts a catalog app in the session.
   * @param {string} name
   * @returns {Promise<LaunchResult>}
   */
  async launch(name) {
    try {
      const res = await fetch(new URL('launch', location.href), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app: name }),
      });
      const body = await res.json().catch(() => ({}));
      if (res.ok) this.state.started.push(name);
      return { ok: res.ok, status: res.status, message: body.message ?? res.statusText };
    } catch (e) {
      return { ok: false, status: 0, message: String(e) };
    }
  }

  /** @param {{id: number}[]} windows the session's windows, from the stream */
  windowsChanged(windows) {
    // Whatever brought a window (a pick, another tab), the session is no longer empty.
    if (windows.length > 0 && (this.awaitingWindow || this.state.shown)) {
      this.awaitingWindow = false;
      this.setStatus('');
      this.hide();
    }
  }

  toggleMenu() {
    if (this.menu.hidden) {
      this.menu.hidden = false;
      this.button.setAttribute('aria-expanded', 'true');
      /** @type {HTMLElement | null} */ (this.menu.querySelector('button'))?.focus();
    } else {
      this.closeMenu();
      this.hooks.onDone();
    }
  }

  closeMenu() {
    this.menu.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
  }
}

/**
 * An app's icon, or its initial where it has none.
 * @param {{displayName: string, iconUrl: string | null}} app
 */
export function appIcon(app) {
  const icon = document.createElement(app.iconUrl ? 'img' : 'span');
  icon.className = 'app-icon';
  if (app.iconUrl && icon instanceof HTMLImageElement) {
    icon.src = app.iconUrl;
    icon.alt = '';
  } else {
    icon.textContent = app.displayName.slice(0, 1);
    icon.setAttribute('aria-hidden', 'true');
  }
  return icon;
}

/**
 * Arrow keys move between the buttons of a grid or menu (Tab still works).
 * @param {HTMLElement} container
 * @param {KeyboardEvent} e
 */
function moveFocus(container, e) {
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
  if (!step) return;
  const buttons = [...container.querySelectorAll('button')];
  const at = buttons.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
  const next = buttons[(at + step + buttons.length) % buttons.length];
  if (next) {
    e.preventDefault();
    next.focus();
  }
}
