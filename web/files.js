// My Files (porthole serve): the toolbar's file panel over the session's home folder
// (when its stack keeps one) and its temporary files. Browse, upload (file picker or
// drag and drop, with progress), download (the browser's own download, streamed),
// delete, new folder. The server enforces the stack's upload/download settings and
// the quota; this panel shows what it says.

import { $, SidePanel } from './dom.js';

/**
 * @typedef {{name: string, type: 'file' | 'directory', size: number, modified: number}} Entry
 * @typedef {{name: string, loaded: number, total: number, done: boolean, error: string | null,
 *   startedAt: number, endedAt: number | null}} Upload  times: performance.now()
 * @typedef {{
 *   available: boolean,
 *   folders: string[],
 *   folder: string,
 *   path: string,
 *   entries: Entry[],
 *   used: number,
 *   quota: number | null,
 *   full: boolean,
 *   upload: boolean,
 *   download: boolean,
 *   uploads: Upload[],
 *   status: string,
 *   listings: number,
 * }} FilesState  what window.porthole.files shows (tests)
 */

const FOLDER_NAMES = { home: 'Home folder', temporary: 'Temporary files' };

/** @param {number} bytes */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** @param {string} dir @param {string} name */
export function joinPath(dir, name) {
  return dir ? `${dir}/${name}` : name;
}

/** @param {string} path the parent of a '/'-separated path ('' at the top) */
export function parentPath(path) {
  const at = path.lastIndexOf('/');
  return at < 0 ? '' : path.slice(0, at);
}

export class Files extends SidePanel {
  /**
   * @param {{onDone: () => void, onRoom: () => void}} hooks onDone: give the keyboard back
   *   to the screen; onRoom: the home folder has room again (a full-folder notice is void)
   */
  constructor(hooks) {
    super({ button: 'btn-files', panel: 'files', close: 'files-close', status: 'files-status' }, hooks.onDone);
    this.hooks = hooks;
    /** @type {HTMLElement} */ this.tabs = $('files-tabs');
    /** @type {HTMLElement} */ this.crumbs = $('files-path');
    /** @type {HTMLTableSectionElement} */ this.rows = $('files-rows');
    /** @type {HTMLElement} */ this.usage = $('files-usage');
    /** @type {HTMLElement} */ this.progress = $('files-uploads');
    /** @type {HTMLInputElement} */ this.picker = $('files-picker');
    /** @type {HTMLButtonElement} */ this.uploadButton = $('files-upload');
    /** @type {FilesState} */
    this.state = {
      available: false, folders: [], folder: 'home', path: '', entries: [], used: 0, quota: null,
      full: false, upload: false, download: false, uploads: [], status: '', listings: 0,
    };
    this.wire();
  }

  wire() {
    this.uploadButton.addEventListener('click', () => this.picker.click());
    this.picker.addEventListener('change', () => {
      this.uploadAll([...(this.picker.files ?? [])]);
      this.picker.value = '';
    });
    $('files-new-folder').addEventListener('click', () => this.newFolder());
    this.panel.addEventListener('dragover', (e) => {
      if (!this.state.upload) return;
      e.preventDefault();
      this.panel.classList.add('dropping');
    });
    this.panel.addEventListener('dragleave', () => this.panel.classList.remove('dropping'));
    this.panel.addEventListener('drop', (e) => {
      e.preventDefault();
      this.panel.classList.remove('dropping');
      if (this.state.upload) this.uploadAll([...(e.dataTransfer?.files ?? [])]);
    });
  }

  /** @param {string} route @param {string} folder @param {string} path */
  url(route, folder, path) {
    const url = new URL(route, location.href);
    url.searchParams.set('folder', folder);
    url.searchParams.set('path', path);
    return url;
  }

  /** Finds which folders the session has; shows the toolbar button when it has any. */
  async probe() {
    const folders = [];
    for (const folder of ['home', 'temporary']) {
      try {
        const res = await fetch(this.url('files', folder, ''));
        if (res.ok) folders.push(folder);
      } catch {
        // not a session page, or not yet: no panel
      }
    }
    this.state.folders = folders;
    this.state.available = folders.length > 0;
    this.state.folder = folders[0] ?? 'home';
    this.button.hidden = !this.state.available;
    this.tabs.replaceChildren(...folders.map((folder) => {
      const tab = document.createElement('button');
      tab.type = 'button';
      tab.setAttribute('role', 'tab');
      tab.dataset.folder = folder;
      tab.textContent = FOLDER_NAMES[/** @type {'home' | 'temporary'} */ (folder)];
      tab.addEventListener('click', () => this.show(folder, ''));
      return tab;
    }));
  }

  async opened() {
    await this.show(this.state.folder, this.state.path);
    /** @type {HTMLElement | null} */ (this.panel.querySelector('[aria-selected="true"]'))?.focus();
  }

  /** Lists `path` of `folder`. @param {string} folder @param {string} path */
  async show(folder, path) {
    let res;
    try {
      res = await fetch(this.url('files', folder, path));
    } catch (e) {
      this.setStatus(`The folder could not be read: ${e}`);
      return;
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      this.setStatus(body.message ?? `The folder could not be read (${res.status}).`);
      return;
    }
    Object.assign(this.state, {
      folder, path: body.path, entries: body.entries, used: body.used, quota: body.quota,
      full: body.full, upload: body.upload, download: body.download,
    });
    this.state.listings += 1;
    this.render();
  }

  render() {
    const { folder, path, entries } = this.state;
    for (const tab of this.tabs.querySelectorAll('button')) {
      tab.setAttribute('aria-selected', String(tab.dataset.folder === folder));
    }
    const parts = path ? path.split('/') : [];
    const crumb = (/** @type {string} */ label, /** @type {string} */ to) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'crumb';
      b.textContent = label;
      b.addEventListener('click', () => this.show(folder, to));
      return b;
    };
    this.crumbs.replaceChildren(
      crumb(FOLDER_NAMES[/** @type {'home' | 'temporary'} */ (folder)], ''),
      ...parts.map((part, i) => crumb(part, parts.slice(0, i + 1).join('/'))),
    );
    const rows = entries.map((entry) => this.row(entry));
    if (path) {
      const up = document.createElement('tr');
      const cell = document.createElement('td');
      cell.colSpan = 4;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'file-name';
      b.textContent = '.. (up)';
      b.addEventListener('click', () => this.show(folder, parentPath(path)));
      cell.append(b);
      up.append(cell);
      rows.unshift(up);
    }
    if (entries.length === 0) {
      const empty = document.createElement('tr');
      const cell = document.createElement('td');
      cell.colSpan = 4;
      cell.className = 'files-empty';
      cell.textContent = 'This folder is empty.';
      empty.append(cell);
      rows.push(empty);
    }
    this.rows.replaceChildren(...rows);
    this.uploadButton.disabled = !this.state.upload;
    this.uploadButton.title = this.state.upload ? 'Upload files here' : 'File upload is disabled for this session';
    const quota = this.state.quota === null ? '' : ` of ${formatSize(this.state.quota)}`;
    this.usage.textContent = `${formatSize(this.state.used)}${quota} used`;
    this.usage.classList.toggle('full', this.state.full);
    if (this.state.full) {
      this.setStatus('Your home folder is full: nothing more can be saved to it. Delete files to make room.');
    } else if (folder === 'home') {
      this.hooks.onRoom();
    }
  }

  /** @param {Entry} entry */
  row(entry) {
    const { folder, path } = this.state;
    const full = joinPath(path, entry.name);
    const tr = document.createElement('tr');
    tr.dataset.name = entry.name;
    tr.dataset.type = entry.type;
    const name = document.createElement('td');
    if (entry.type === 'directory') {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'file-name';
      b.textContent = `${entry.name}/`;
      b.title = `Open ${entry.name}`;
      b.addEventListener('click', () => this.show(folder, full));
      name.append(b);
    } else {
      name.textContent = entry.name;
    }
    const size = document.createElement('td');
    size.textContent = entry.type === 'file' ? formatSize(entry.size) : '';
    const modified = document.createElement('td');
    modified.textContent = new Date(entry.modified).toLocaleString();
    const actions = document.createElement('td');
    if (entry.type === 'file' && this.state.download) {
      const a = document.createElement('a');
      a.href = this.url('files/content', folder, full).href;
      a.download = entry.name;
      a.textContent = 'Download';
      a.className = 'file-action';
      a.setAttribute('aria-label', `Download ${entry.name}`);
      actions.append(a);
    }
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'file-action';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${entry.name}`);
    del.addEventListener('click', () => this.remove(entry));
    actions.append(del);
    tr.append(name, size, modified, actions);
    return tr;
  }

  /** @param {Entry} entry */
  async remove(entry) {
    const what = entry.type === 'directory' ? `the folder ${entry.name} and everything in it` : entry.name;
    if (!window.confirm(`Delete ${what}?`)) return;
    const { folder, path } = this.state;
    const res = await fetch(this.url('files/content', folder, joinPath(path, entry.name)), { method: 'DELETE' });
    if (res.ok) this.setStatus(`${entry.name} deleted.`);
    else this.setStatus((await res.json().catch(() => ({}))).message ?? `${entry.name} was not deleted.`);
    await this.show(folder, path);
  }

  async newFolder() {
    const name = window.prompt('Name of the new folder');
    if (!name) return;
    const { folder, path } = this.state;
    const res = await fetch(this.url('files/directory', folder, joinPath(path, name)), { method: 'POST' });
    if (!res.ok) this.setStatus((await res.json().catch(() => ({}))).message ?? 'The folder was not made.');
    await this.show(folder, path);
  }

  /** Uploads files one after the other into the folder shown. @param {File[]} files */
  async uploadAll(files) {
    const { folder, path } = this.state;
    for (const file of files) {
      await this.upload(file, folder, path);
    }
    await this.show(folder, path);
  }

  /**
   * One upload, with progress (XMLHttpRequest: fetch reports none for uploads).
   * @param {File} file @param {string} folder @param {string} path
   * @returns {Promise<void>}
   */
  upload(file, folder, path) {
    /** @type {Upload} */
    const upload = {
      name: file.name, loaded: 0, total: file.size, done: false, error: null, startedAt: performance.now(), endedAt: null,
    };
    this.state.uploads.push(upload);
    const line = document.createElement('div');
    line.className = 'upload';
    const label = document.createElement('span');
    const bar = document.createElement('progress');
    bar.max = file.size || 1;
    bar.setAttribute('aria-label', `Uploading ${file.name}`);
    line.append(label, bar);
    this.progress.append(line);
    const update = () => {
      bar.value = upload.loaded;
      label.textContent = upload.error
        ? `${file.name}: ${upload.error}`
        : `${file.name}: ${formatSize(upload.loaded)} of ${formatSize(upload.total)}${upload.done ? ' — done' : ''}`;
    };
    update();
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', this.url('files/content', folder, joinPath(path, file.name)));
      xhr.upload.addEventListener('progress', (e) => {
        upload.loaded = e.loaded;
        update();
      });
      xhr.addEventListener('load', () => {
        upload.endedAt = performance.now();
        if (xhr.status >= 200 && xhr.status < 300) {
          upload.loaded = upload.total;
          upload.done = true;
          this.setStatus(`${file.name} uploaded.`);
        } else {
          let message = `failed (${xhr.status})`;
          try {
            message = JSON.parse(xhr.responseText).message ?? message;
          } catch {
            // not JSON: keep the status
          }
          upload.error = message;
          this.setStatus(`${file.name} was not uploaded: ${message}`);
        }
        update();
        resolve();
      });
      xhr.addEventListener('error', () => {
        upload.endedAt = performance.now();
        upload.error = 'the connection was lost';
        this.setStatus(`${file.name} was not uploaded: the connection was lost.`);
        update();
        resolve();
      });
      xhr.send(file);
    });
  }
}
