// The Image Assistant (an image builder's session page): the catalog tool's small GUI,
// after AppStream's. It lists the applications the image will have and those installed
// in the builder (from their .desktop entries, with their icons), adds and removes
// catalog entries, and makes the image, through the server's image-assistant routes
// (crates/server/src/image_assistant.rs), which run the builder's own
// `image-assistant` inside it. Hidden on every other page.

import { appIcon } from './catalog.js';
import { $, SidePanel } from './dom.js';

/**
 * @typedef {{name: string, displayName: string, launchPath: string, launchParameters: string | null,
 *   workingDirectory?: string | null, iconUrl: string | null, problem?: string | null, inCatalog?: boolean}} App
 * @typedef {{
 *   available: boolean,
 *   builder: string,
 *   catalog: App[],
 *   installed: App[],
 *   status: string,
 *   image: {image: string, state: string} | null,
 *   listings: number,
 * }} ImageAssistantState  what window.porthole.imageAssistant shows (tests)
 */

/** A form's fields as the server's JSON: trimmed, empty ones left out. @param {HTMLFormElement} form */
export function formFields(form) {
  /** @type {Record<string, string>} */
  const fields = {};
  for (const [key, value] of new FormData(form)) {
    const text = String(value).trim();
    if (text) fields[key] = text;
  }
  return fields;
}

/**
 * A catalog name for an installed app (its .desktop id, say "org.gnome.gedit"): what the
 * image assistant accepts, letters, digits, '_', '.', '-', up to 100.
 * @param {string} name
 */
export function catalogName(name) {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
  return (cleaned || 'app').slice(0, 100);
}

export class ImageAssistant extends SidePanel {
  /** @param {{onDone: () => void}} hooks onDone: give the keyboard back to the screen */
  constructor(hooks) {
    super({ button: 'btn-image-assistant', panel: 'image-assistant', close: 'ia-close', status: 'ia-status' }, hooks.onDone);
    /** @type {HTMLTableSectionElement} */ this.catalogRows = $('ia-catalog');
    /** @type {HTMLElement} */ this.installedList = $('ia-installed');
    /** @type {HTMLFormElement} */ this.addForm = $('ia-add-form');
    /** @type {HTMLFormElement} */ this.imageForm = $('ia-image-form');
    /** @type {ImageAssistantState} */
    this.state = { available: false, builder: '', catalog: [], installed: [], status: '', image: null, listings: 0 };
    this.wire();
  }

  wire() {
    this.addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.add(formFields(this.addForm)).then((ok) => ok && this.addForm.reset());
    });
    this.imageForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.createImage(formFields(this.imageForm));
    });
  }

  /** @param {string} route */
  url(route) {
    return new URL(route ? `image-assistant/${route}` : 'image-assistant', location.href);
  }

  /** Shows the toolbar button when this page is an image builder's session. */
  async probe() {
    this.state.available = await this.refresh();
    this.button.hidden = !this.state.available;
  }

  async opened() {
    await this.refresh();
    /** @type {HTMLElement | null} */ (this.panel.querySelector('button, input'))?.focus();
  }

  /** Reads the catalog and the installed apps again. @returns {Promise<boolean>} whether it could */
  async refresh() {
    let res;
    try {
      res = await fetch(this.url(''));
    } catch {
      return false;
    }
    if (!res.ok) return false;
    const body = await res.json();
    Object.assign(this.state, { builder: body.builder, catalog: body.catalog, installed: body.installed });
    this.state.listings += 1;
    this.render();
    return true;
  }

  render() {
    const rows = this.state.catalog.map((app) => {
      const tr = document.createElement('tr');
      tr.dataset.app = app.name;
      const name = document.createElement('td');
      name.append(appIcon(app), label(app.displayName, app.name));
      const path = document.createElement('td');
      path.textContent = [app.launchPath, app.launchParameters].filter(Boolean).join(' ');
      if (app.problem) {
        const problem = document.createElement('div');
        problem.className = 'ia-problem';
        problem.textContent = app.problem;
        path.append(problem);
      }
      const actions = document.createElement('td');
      actions.append(this.action('Remove', `Remove ${app.name} from the image`, () => this.remove(app.name)));
      tr.append(name, path, actions);
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 3;
      td.className = 'ia-empty';
      td.textContent = 'No applications yet: add one below.';
      tr.append(td);
      rows.push(tr);
    }
    this.catalogRows.replaceChildren(...rows);
    this.installedList.replaceChildren(...this.state.installed.map((app) => {
      const item = document.createElement('div');
      item.className = 'ia-installed';
      item.dataset.app = app.name;
      const path = document.createElement('span');
      path.className = 'ia-path';
      path.textContent = [app.launchPath, app.launchParameters].filter(Boolean).join(' ');
      const add = this.action(app.inCatalog ? 'Added' : 'Add', `Add ${app.displayName} to the image`, () => this.add({
        name: catalogName(app.name),
        launchPath: app.launchPath,
        displayName: app.displayName,
        ...(app.launchParameters ? { launchParameters: app.launchParameters } : {}),
      }));
      add.disabled = Boolean(app.inCatalog);
      item.append(appIcon(app), label(app.displayName, app.name), path, add);
      return item;
    }));
  }

  /** @param {string} text @param {string} title @param {() => void} onClick */
  action(text, title, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.setAttribute('aria-label', title);
    b.addEventListener('click', onClick);
    return b;
  }

  /**
   * Adds (or replaces) a catalog entry. @param {Record<string, string>} app
   * @returns {Promise<boolean>} whether it was added
   */
  async add(app) {
    this.setStatus(`Adding ${app.name}…`);
    const { ok, message } = await this.send('applications', 'POST', app);
    this.setStatus(ok ? `${app.name} added.` : `${app.name} was not added: ${message}`);
    await this.refresh();
    return ok;
  }

  /** @param {string} name */
  async remove(name) {
    const { ok, message } = await this.send(`applications/${encodeURIComponent(name)}`, 'DELETE');
    this.setStatus(ok ? `${name} removed.` : `${name} was not removed: ${message}`);
    await this.refresh();
  }

  /** @param {Record<string, string>} image */
  async createImage(image) {
    if (!window.confirm(`Create the image ${image.name ?? ''}? This builder stops to make it, which ends this session.`)) return;
    this.setStatus(`Creating the image ${image.name}…`);
    const { ok, message, body } = await this.send('image', 'POST', image);
    if (!ok) {
      this.setStatus(`The image was not created: ${message}`);
      return;
    }
    this.state.image = { image: body.image, state: body.state };
    this.setStatus(`The image ${body.image} is ${body.state}: it is AVAILABLE once this builder has stopped and its changes are saved.`);
  }

  /**
   * @param {string} route @param {string} method @param {object} [json]
   * @returns {Promise<{ok: boolean, message: string, body: any}>}
   */
  async send(route, method, json) {
    try {
      const res = await fetch(this.url(route), {
        method,
        ...(json ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) } : {}),
      });
      const body = await res.json().catch(() => ({}));
      return { ok: res.ok, message: body.message ?? res.statusText, body };
    } catch (e) {
      return { ok: false, message: String(e), body: {} };
    }
  }
}

/** @param {string} displayName @param {string} name */
function label(displayName, name) {
  const el = document.createElement('span');
  el.className = 'ia-label';
  el.textContent = displayName;
  el.title = name;
  return el;
}
