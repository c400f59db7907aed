/**
 * The "Run workflow" dialog: one field per typed parameter of the workflow's latest
 * version (its spec's `inputs`), checked in the page before the run starts.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IVersionDocument } from './api';
import { FormResult, IFormField, formModel, formParameters } from './model';

/** The dialog's body: the form, whose value is the typed parameters or a problem. */
class RunForm extends Widget implements Dialog.IBodyWidget<FormResult> {
  private controls = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
  /** What the fields held when the dialog closed (to fill them again after a problem). */
  raw: Record<string, string | boolean> = {};

  constructor(
    private fields: IFormField[],
    problem: string,
    previous: Record<string, string | boolean> = {}
  ) {
    super();
    this.addClass('flowat-RunForm');
    if (!fields.length) {
      this.node.append(paragraph('This workflow has no parameters.'));
    }
    for (const field of fields) {
      const label = document.createElement('label');
      label.className = 'flowat-RunForm-field';
      const name = document.createElement('span');
      name.textContent = `${field.name} (${field.hint})`;
      let control: HTMLInputElement | HTMLTextAreaElement;
      if (field.control === 'json') {
        control = document.createElement('textarea');
        control.rows = 2;
      } else {
        control = document.createElement('input');
        control.type = field.control === 'checkbox' ? 'checkbox' : 'text';
        if (field.control === 'number') {
          control.inputMode = 'decimal';
        }
      }
      const initial = field.name in previous ? previous[field.name] : field.initial;
      if (control instanceof HTMLInputElement && control.type === 'checkbox') {
        control.checked = initial === true;
      } else {
        control.value = String(initial);
        control.className = 'jp-mod-styled';
      }
      control.name = field.name;
      label.append(name, control);
      this.node.append(label);
      this.controls.set(field.name, control);
    }
    if (problem) {
      const error = paragraph(problem);
      error.className = 'flowat-RunForm-error';
      this.node.append(error);
    }
  }

  getValue(): FormResult {
    const raw: Record<string, string | boolean> = {};
    for (const [name, control] of this.controls) {
      raw[name] =
        control instanceof HTMLInputElement && control.type === 'checkbox'
          ? control.checked
          : control.value;
    }
    this.raw = raw;
    return formParameters(this.fields, raw);
  }
}

function paragraph(text: string): HTMLElement {
  const p = document.createElement('p');
  p.textContent = text;
  return p;
}

/**
 * Ask for the parameters of a run of `version`'s workflow; null when cancelled.
 * A wrong value shows the form again with the problem under it.
 */
export async function askParameters(
  version: IVersionDocument
): Promise<Record<string, unknown> | null> {
  const fields = formModel(version.spec.inputs ?? version.inputs);
  let problem = '';
  let previous: Record<string, string | boolean> = {};
  for (;;) {
    const form = new RunForm(fields, problem, previous);
    const result = await showDialog({
      title: `Run ${version.workflow} (v${version.version})`,
      body: form,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run' })],
      focusNodeSelector: 'input, textarea'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    if (result.value.ok) {
      return result.value.parameters;
    }
    problem = result.value.message;
    previous = form.raw;
  }
}
