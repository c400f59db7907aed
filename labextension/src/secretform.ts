/**
 * The "Add or replace a secret" dialog. The value is typed into a password field (no
 * autocomplete, no spell-check), read once when the dialog is accepted, sent in the body
 * of `PUT /api/v1/secrets/{name}` and cleared from the field: it never reaches the
 * notebook, the browser's storage, the console or a log. A wrong name or an empty value
 * shows the dialog again (with the name kept and the value field empty).
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { FlowAtApi } from './api';
import { ISecretItem, secretProblem } from './resources';

interface ISecretEntry {
  name: string;
  /** The value, present only between the dialog closing and the request. */
  value: string;
}

class SecretForm extends Widget implements Dialog.IBodyWidget<ISecretEntry> {
  private name = document.createElement('input');
  private value = document.createElement('input');

  constructor(name: string, fixedName: boolean, problem: string) {
    super();
    this.addClass('flowat-SecretForm');
    this.name.className = 'jp-mod-styled flowat-secret-name';
    this.name.name = 'flowat-secret-name';
    this.name.value = name;
    this.name.readOnly = fixedName;
    this.name.autocomplete = 'off';
    this.name.spellcheck = false;
    this.value.className = 'jp-mod-styled flowat-secret-value';
    this.value.type = 'password';
    this.value.name = 'flowat-secret-value';
    this.value.autocomplete = 'new-password';
    this.value.spellcheck = false;
    this.value.setAttribute('data-lpignore', 'true');
    this.node.append(
      field('Name', this.name),
      field('Value (write-only: FlowAt never shows it again)', this.value)
    );
    if (problem) {
      const error = document.createElement('p');
      error.className = 'flowat-SecretForm-error';
      error.textContent = problem;
      this.node.append(error);
    }
  }

  getValue(): ISecretEntry {
    const entry = { name: this.name.value.trim(), value: this.value.value };
    this.value.value = '';
    return entry;
  }

  dispose(): void {
    this.value.value = '';
    super.dispose();
  }
}

function field(text: string, control: HTMLElement): HTMLElement {
  const label = document.createElement('label');
  label.className = 'flowat-RunForm-field';
  const span = document.createElement('span');
  span.textContent = text;
  label.append(span, control);
  return label;
}

/**
 * Ask for a secret's name (fixed when replacing `name`) and value, and store it through
 * the API; the stored secret's metadata, or null when cancelled. API errors are thrown.
 */
export async function askAndSetSecret(api: FlowAtApi, name = ''): Promise<ISecretItem | null> {
  let problem = '';
  let chosen = name;
  for (;;) {
    const result = await showDialog({
      title: name ? `Replace secret ${name}` : 'Add a secret',
      body: new SecretForm(chosen, Boolean(name), problem),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Save' })],
      focusNodeSelector: name ? '.flowat-secret-value' : '.flowat-secret-name'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    const entry = result.value;
    problem = secretProblem(entry.name, entry.value);
    chosen = entry.name;
    if (!problem) {
      try {
        return await api.setSecret(entry.name, entry.value);
      } finally {
        entry.value = '';
      }
    }
  }
}
