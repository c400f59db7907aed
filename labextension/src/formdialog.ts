/**
 * A small form in a JupyterLab dialog: text, text area, select or checkbox fields, checked
 * by the caller's function before the dialog's answer is used; a problem shows the form
 * again with the values kept. Used by the settings' invite, key, schedule and webhook forms.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

/** One field of a form. */
export interface IFormField {
  name: string;
  label: string;
  /** `password`: a credential typed in, cleared from the field once read. */
  kind?: 'text' | 'password' | 'textarea' | 'select' | 'checkbox';
  value?: string | boolean;
  options?: string[];
  placeholder?: string;
}

type Values = Record<string, string | boolean>;

class Form extends Widget implements Dialog.IBodyWidget<Values> {
  private controls = new Map<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>();

  constructor(fields: IFormField[], problem: string) {
    super();
    this.addClass('flowat-Form');
    for (const field of fields) {
      let control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
      if (field.kind === 'textarea') {
        control = document.createElement('textarea');
        control.rows = 4;
        control.value = String(field.value ?? '');
      } else if (field.kind === 'select') {
        const select = document.createElement('select');
        for (const choice of field.options ?? []) {
          const option = document.createElement('option');
          option.value = choice;
          option.textContent = choice;
          select.append(option);
        }
        select.value = String(field.value ?? field.options?.[0] ?? '');
        control = select;
      } else {
        const input = document.createElement('input');
        input.type = field.kind === 'checkbox' || field.kind === 'password' ? field.kind : 'text';
        if (field.kind === 'checkbox') {
          input.checked = Boolean(field.value);
        } else {
          input.value = String(field.value ?? '');
        }
        input.autocomplete = 'off';
        input.spellcheck = false;
        control = input;
      }
      control.className = `jp-mod-styled flowat-field-${field.name}`;
      control.setAttribute('name', `flowat-${field.name}`);
      if (field.placeholder && 'placeholder' in control) {
        control.placeholder = field.placeholder;
      }
      this.controls.set(field.name, control);
      const label = document.createElement('label');
      label.className = 'flowat-RunForm-field';
      const span = document.createElement('span');
      span.textContent = field.label;
      label.append(span, control);
      this.node.append(label);
    }
    if (problem) {
      const error = document.createElement('p');
      error.className = 'flowat-Form-error';
      error.textContent = problem;
      this.node.append(error);
    }
  }

  getValue(): Values {
    const values: Values = {};
    for (const [name, control] of this.controls) {
      values[name] =
        control instanceof HTMLInputElement && control.type === 'checkbox'
          ? control.checked
          : control.value;
      if (control instanceof HTMLInputElement && control.type === 'password') {
        control.value = '';
      }
    }
    return values;
  }

  dispose(): void {
    for (const control of this.controls.values()) {
      if (control instanceof HTMLInputElement && control.type === 'password') {
        control.value = '';
      }
    }
    super.dispose();
  }
}

/**
 * Ask for `fields`; `check` returns a problem ('' when fine). The values, or null when
 * cancelled.
 */
export async function askForm(
  title: string,
  fields: IFormField[],
  check: (values: Values) => string,
  accept = 'Save'
): Promise<Values | null> {
  let problem = '';
  let current = fields;
  for (;;) {
    const result = await showDialog({
      title,
      body: new Form(current, problem),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })],
      focusNodeSelector: 'input, textarea, select'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    const values = result.value;
    problem = check(values);
    if (!problem) {
      return values;
    }
    current = fields.map(f => ({ ...f, value: f.kind === 'password' ? '' : values[f.name] }));
  }
}

/** Ask to confirm a change that cannot be undone; whether the user accepted. */
export async function confirm(title: string, body: string, label: string): Promise<boolean> {
  const answer = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })]
  });
  return answer.button.accept;
}
