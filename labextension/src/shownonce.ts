/**
 * The "shown once" dialog for a new API key, invitation token or webhook signing secret.
 * The value is in a read-only field with a Copy button (the clipboard, at the user's
 * click); it is never written to the browser's storage, the console or a log, and when
 * the dialog closes the field is emptied and removed, so nothing of it stays in the page.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

class ShownOnce extends Widget {
  private field = document.createElement('input');

  constructor(value: string, note: string) {
    super();
    this.addClass('flowat-ShownOnce');
    const text = document.createElement('p');
    text.textContent = note;
    this.field.className = 'jp-mod-styled flowat-shown-once-value';
    this.field.readOnly = true;
    this.field.value = value;
    this.field.autocomplete = 'off';
    this.field.spellcheck = false;
    const copy = document.createElement('button');
    copy.className = 'jp-mod-styled flowat-small flowat-copy';
    copy.textContent = 'Copy';
    copy.onclick = () => {
      const done = () => (copy.textContent = 'Copied');
      if (navigator.clipboard?.writeText) {
        void navigator.clipboard.writeText(this.field.value).then(done, () => this.selectAll());
      } else {
        this.selectAll();
      }
    };
    const row = document.createElement('div');
    row.className = 'flowat-ShownOnce-row';
    row.append(this.field, copy);
    this.node.append(text, row);
  }

  private selectAll(): void {
    this.field.focus();
    this.field.select();
  }

  /** Empty the field and the node: nothing of the value stays in the page. */
  forget(): void {
    this.field.value = '';
    this.node.replaceChildren();
  }

  dispose(): void {
    this.forget();
    super.dispose();
  }
}

/** Show `value` once, with a Copy button; forgotten when the dialog closes. */
export async function showOnce(title: string, value: string, note: string): Promise<void> {
  const body = new ShownOnce(value, note);
  try {
    await showDialog({
      title,
      body,
      buttons: [Dialog.okButton({ label: 'Done: I copied it' })]
    });
  } finally {
    body.dispose();
  }
}
