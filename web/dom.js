// What the session page's modules share of its DOM: elements by id, and the side panels
// (My Files, the Image Assistant): a toolbar button that opens and closes the panel, its
// close button and Escape, aria-expanded, and a status line the tests read too.

/** @param {string} id @returns {any} */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html lacks #${id}`);
  return el;
}

export class SidePanel {
  /**
   * @param {{button: string, panel: string, close: string, status: string}} ids of index.html's elements
   * @param {() => void} onDone give the keyboard back to the screen
   */
  constructor(ids, onDone) {
    /** @type {HTMLButtonElement} */ this.button = $(ids.button);
    /** @type {HTMLElement} */ this.panel = $(ids.panel);
    /** @type {HTMLElement} */ this.status = $(ids.status);
    /** what the panel shows, for the tests; the subclass's @type {{status: string}} */
    this.state = { status: '' };
    this.onDone = onDone;
    this.button.addEventListener('click', () => (this.panel.hidden ? this.open() : this.close()));
    $(ids.close).addEventListener('click', () => this.close());
    this.panel.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
  }

  async open() {
    this.panel.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    await this.opened();
  }

  /** What the panel shows once open (the subclass's to say). */
  async opened() {}

  close() {
    this.panel.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    this.onDone();
  }

  /** @param {string} text */
  setStatus(text) {
    this.status.textContent = text;
    this.state.status = text;
  }
}
