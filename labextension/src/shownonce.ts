/**
 * The "shown once" dialog for a new API key, invitation token or webhook signing secret.
 * The value is in a read-only field with a Copy button (the clipboard, at the user's
 * click); it is never written to the browser's storage, the console or a log, and when
 * the dialog closes the field is emptied and removed, so nothing of it stays in the page.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

/** A value to show once, with what it is (`URL`, `Signing secret`); no label: one value. */
export interface IShownValue {
  label?: string;
  value: string;
}

class ShownOnce extends Widget {
  private fields: HTMLInputElement[] = [];

  constructor(values: IShownValue[], note: string) {
    super();
    this.addClass('flowat-ShownOnce');
    const text = document.createElement('p');
    text.textContent = note;
    this.node.append(text);
    for (const shown of values) {
      const field = document.createElement('input');
      field.className = 'jp-mod-styled flowat-shown-once-value';
      field.readOnly = true;
      field.value = shown.value;
      field.autocomplete = 'off';
      field.spellcheck = false;
      this.fields.push(field);
      const copy = document.createElement('button');
      copy.className = 'jp-mod-styled flowat-small flowat-copy';
      copy.textContent = 'Copy';
      copy.onclick = () => {
        const done = () => (copy.textContent = 'Copied');
        const select = () => {
          field.focus();
          field.select();
        };
        if (navigator.clipboard?.writeText) {
          void navigator.clipboard.writeText(field.value).then(done, select);
        } else {
          select();
        }
      };
      if (shown.label) {
        const label = document.createElement('div');
        label.className = 'flowat-ShownOnce-label';
        label.textContent = shown.label;
        this.node.append(label);
      }
      const row = document.createElement('div');
      row.className = 'flowat-ShownOnce-row';
      row.append(field, copy);
      this.node.append(row);
    }
  }

  /** Empty the fields and the node: nothing of the values stays in the page. */
  forget(): void {
    for (const field of this.fields) {
      field.value = '';
    }
    this.fields = [];
    this.node.replaceChildren();
  }

  dispose(): void {
    this.forget();
    super.dispose();
  }
}

/**
 * Show `value` (one string, or labelled values) once, each with a Copy button; forgotten
 * when the dialog closes.
 */
export async function showOnce(
  title: string,
  value: string | IShownValue[],
  note: string
): Promise<void> {
  const body = new ShownOnce(typeof value === 'string' ? [{ value }] : value, note);
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
