/**
 * The panel's collapsible sections below workflows and runs: schedules, webhooks, alerts,
 * secret names and the dead-letter queue. A section reads the REST API only while it is open
 * (and the panel visible); an error (a role that may not read it, say) is shown inside
 * the section and leaves the others working.
 */

import { FlowAtApi, FlowAtApiError } from './api';
import {
  IAlertItem,
  IDeadLetter,
  IScheduleItem,
  ISecretItem,
  IWebhookItem,
  deadLetterError,
  describeAlert,
  describeSchedule,
  describeSecret,
  describeWebhook
} from './resources';
import { formatTime } from './model';

/** What the sections ask their host to do. */
export interface ISectionActions {
  showRun(runId: string): void;
  addSecret(name?: string): Promise<void>;
  deleteSecret(name: string): Promise<void>;
  resolveDeadLetter(letter: IDeadLetter, action: 'retry' | 'discard'): Promise<void>;
}

/** One collapsible section whose rows are read from the API while it is open. */
export class Section {
  readonly node = document.createElement('details');
  private list = document.createElement('ul');
  private message = document.createElement('div');
  private count = document.createElement('span');
  private busy = false;

  constructor(
    readonly name: string,
    title: string,
    private load: () => Promise<HTMLElement[]>,
    extra?: HTMLElement
  ) {
    this.node.className = 'flowat-section';
    this.node.dataset.section = name;
    const summary = document.createElement('summary');
    const heading = document.createElement('span');
    heading.className = 'flowat-section-title';
    heading.textContent = title;
    this.count.className = 'flowat-section-count';
    summary.append(heading, this.count);
    if (extra) {
      summary.append(extra);
    }
    this.list.className = `flowat-section-list flowat-${name}`;
    this.message.className = 'flowat-section-message';
    this.node.append(summary, this.list, this.message);
    this.node.addEventListener('toggle', () => {
      if (this.node.open) {
        void this.refresh();
      }
    });
  }

  /** Read and draw the rows now (only while the section is open). */
  async refresh(): Promise<void> {
    if (!this.node.open || this.busy) {
      return;
    }
    this.busy = true;
    try {
      const rows = await this.load();
      this.list.replaceChildren(...rows);
      this.count.textContent = ` (${rows.filter(r => !r.classList.contains('flowat-empty')).length})`;
      this.message.textContent = '';
      this.node.dataset.loaded = 'true';
    } catch (error) {
      this.list.replaceChildren();
      const status = (error as FlowAtApiError).status;
      this.message.textContent =
        status === 403
          ? `Your role may not see this: ${(error as Error).message}`
          : `FlowAt's API did not answer: ${(error as Error).message}`;
      this.node.dataset.loaded = 'error';
    } finally {
      this.busy = false;
    }
  }
}

/** The five sections, built on `api`. */
export function buildSections(api: FlowAtApi, actions: ISectionActions): Section[] {
  const add = button('Add…', 'jp-mod-accept flowat-secret-add', 'Add or replace a secret', event => {
    event.preventDefault();
    event.stopPropagation();
    void actions.addSecret();
  });
  return [
    new Section('schedules', 'Schedules', async () =>
      rows(await api.schedules(), 'No schedules.', scheduleRow)
    ),
    new Section('webhooks', 'Webhooks', async () =>
      rows(await api.webhooks(), 'No webhooks.', webhookRow)
    ),
    new Section('alerts', 'Alerts', async () => rows(await api.alerts(), 'No alerts.', alertRow)),
    new Section(
      'secrets',
      'Secrets',
      async () => rows(await api.secrets(), 'No secrets.', s => secretRow(s, actions)),
      add
    ),
    new Section('dead-letters', 'Dead letters', async () =>
      rows(await api.deadLetters(), 'No parked dead letters.', d => deadLetterRow(d, actions))
    )
  ];
}

function rows<T>(items: T[], empty: string, draw: (item: T) => HTMLElement): HTMLElement[] {
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'flowat-empty';
    li.textContent = empty;
    return [li];
  }
  return items.map(draw);
}

function row(className: string, title: string, facts: string): HTMLLIElement {
  const li = document.createElement('li');
  li.className = `flowat-item ${className}`;
  const name = document.createElement('span');
  name.className = 'flowat-item-name';
  name.textContent = title;
  const detail = document.createElement('span');
  detail.className = 'flowat-item-facts';
  detail.textContent = facts;
  li.append(name, detail);
  return li;
}

function scheduleRow(schedule: IScheduleItem): HTMLElement {
  const li = row('flowat-schedule', schedule.workflow, describeSchedule(schedule));
  li.dataset.id = schedule.id;
  li.dataset.workflow = schedule.workflow;
  li.dataset.paused = String(schedule.paused);
  return li;
}

function webhookRow(webhook: IWebhookItem): HTMLElement {
  const li = row('flowat-webhook', webhook.workflow, describeWebhook(webhook));
  li.dataset.id = webhook.id;
  li.dataset.workflow = webhook.workflow;
  return li;
}

function alertRow(alert: IAlertItem): HTMLElement {
  const li = row('flowat-alert', alert.workflow ?? 'all workflows', describeAlert(alert));
  li.dataset.id = alert.id;
  li.dataset.event = alert.event;
  return li;
}

function secretRow(secret: ISecretItem, actions: ISectionActions): HTMLElement {
  const li = row('flowat-secret', secret.name, describeSecret(secret));
  li.dataset.name = secret.name;
  li.append(
    button('Replace…', 'flowat-secret-replace', `Replace the value of ${secret.name}`, () =>
      void actions.addSecret(secret.name)
    ),
    button('Delete', 'jp-mod-warn flowat-secret-delete', `Delete ${secret.name}`, () =>
      void actions.deleteSecret(secret.name)
    )
  );
  return li;
}

function deadLetterRow(letter: IDeadLetter, actions: ISectionActions): HTMLElement {
  const li = row(
    'flowat-dead-letter',
    `${letter.workflow} v${letter.version} · ${letter.step}`,
    [deadLetterError(letter), `run ${letter.run_id.slice(0, 12)}`, formatTime(letter.created_at)]
      .filter(Boolean)
      .join(' · ')
  );
  li.dataset.id = letter.id;
  li.dataset.runId = letter.run_id;
  li.title = `Open run ${letter.run_id}`;
  li.onclick = () => actions.showRun(letter.run_id);
  li.append(
    button('Retry', 'jp-mod-accept flowat-dlq-retry', 'Run the step again', event => {
      event.stopPropagation();
      void actions.resolveDeadLetter(letter, 'retry');
    }),
    button('Discard', 'jp-mod-warn flowat-dlq-discard', 'Give up on this step', event => {
      event.stopPropagation();
      void actions.resolveDeadLetter(letter, 'discard');
    })
  );
  return li;
}

function button(
  text: string,
  className: string,
  title: string,
  onclick: (event: MouseEvent) => void
): HTMLButtonElement {
  const element = document.createElement('button');
  element.className = `jp-mod-styled flowat-small ${className}`;
  element.textContent = text;
  element.title = title;
  element.onclick = onclick;
  return element;
}
