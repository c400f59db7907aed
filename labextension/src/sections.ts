/**
 * The panel's collapsible sections below workflows and runs: schedules, webhooks, alerts,
 * secret names and the dead-letter queue. A section reads the REST API only while it is open
 * (and the panel visible); an error (a role that may not read it, say) is shown inside
 * the section and leaves the others working. Schedules, webhooks and secrets carry the
 * editing buttons the caller's role allows (GET /api/v1/me); the server checks again.
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
import { ISettingsAccess, settingsAccess } from './orgsettings';

/** What the sections ask their host to do. */
export interface ISectionActions {
  showRun(runId: string): void;
  addSecret(name?: string): Promise<void>;
  deleteSecret(name: string): Promise<void>;
  resolveDeadLetter(letter: IDeadLetter, action: 'retry' | 'discard'): Promise<void>;
  /** A secret's history and usage (never its value). */
  secretDetail?(name: string): Promise<void>;
  /** Rotate the master key (an Owner acting directly). */
  rotateMasterKey?(): Promise<void>;
  editSchedule?(schedule: IScheduleItem): Promise<void>;
  scheduleAction?(schedule: IScheduleItem, action: 'pause' | 'resume' | 'delete'): Promise<void>;
  addWebhook?(): Promise<void>;
  webhookAction?(webhook: IWebhookItem, action: 'rotate' | 'batching' | 'delete'): Promise<void>;
}

/** One collapsible section whose rows are read from the API while it is open. */
export class Section {
  readonly node = document.createElement('details');
  private list = document.createElement('ul');
  private message = document.createElement('div');
  private count = document.createElement('span');
  private busy = false;
  /** Whether the panel's poll redraws it (settings sections redraw on open and after a change). */
  live = true;

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
  const rotate = button(
    'Master key…',
    'jp-mod-warn flowat-master-key-rotate',
    'Rotate the master key: re-wrap every secret under a new one (an Owner acting directly)',
    event => {
      event.preventDefault();
      event.stopPropagation();
      void actions.rotateMasterKey?.();
    }
  );
  rotate.hidden = true;
  const secretExtra = document.createElement('span');
  secretExtra.className = 'flowat-section-buttons';
  secretExtra.append(add, rotate);
  const addHook = button('Add…', 'jp-mod-accept flowat-webhook-add', 'Create a webhook', event => {
    event.preventDefault();
    event.stopPropagation();
    void actions.addWebhook?.();
  });
  addHook.hidden = true;
  const access = async (): Promise<ISettingsAccess> => {
    try {
      return settingsAccess(await api.me());
    } catch {
      return settingsAccess(null);
    }
  };
  return [
    new Section('schedules', 'Schedules', async () => {
      const allowed = await access();
      return rows(await api.schedules(), 'No schedules.', s => scheduleRow(s, allowed, actions));
    }),
    new Section(
      'webhooks',
      'Webhooks',
      async () => {
        const allowed = await access();
        addHook.hidden = !(allowed.webhooksWrite && actions.addWebhook);
        return rows(await api.webhooks(), 'No webhooks.', w => webhookRow(w, allowed, actions));
      },
      addHook
    ),
    new Section('alerts', 'Alerts', async () => rows(await api.alerts(), 'No alerts.', alertRow)),
    new Section(
      'secrets',
      'Secrets',
      async () => {
        const allowed = await access();
        add.hidden = !allowed.secretsWrite;
        rotate.hidden = !(allowed.rotateMasterKey && actions.rotateMasterKey);
        return rows(await api.secrets(), 'No secrets.', s => secretRow(s, allowed, actions));
      },
      secretExtra
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

/** A section's row: a name in bold and a line of facts. */
export function row(className: string, title: string, facts: string): HTMLLIElement {
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

function scheduleRow(
  schedule: IScheduleItem,
  allowed: ISettingsAccess,
  actions: ISectionActions
): HTMLElement {
  const li = row('flowat-schedule', schedule.workflow, describeSchedule(schedule));
  li.dataset.id = schedule.id;
  li.dataset.workflow = schedule.workflow;
  li.dataset.paused = String(schedule.paused);
  const act = actions.scheduleAction;
  if (!allowed.schedulesWrite || !act || !actions.editSchedule) {
    return li;
  }
  const edit = actions.editSchedule;
  li.append(
    button('Edit…', 'flowat-schedule-edit', 'Change its timing or parameters', () =>
      void edit(schedule)
    ),
    schedule.paused
      ? button('Resume', 'flowat-schedule-resume', 'Fire it again', () =>
          void act(schedule, 'resume')
        )
      : button('Pause', 'flowat-schedule-pause', 'No firings until resumed', () =>
          void act(schedule, 'pause')
        ),
    button('Delete', 'jp-mod-warn flowat-schedule-delete', 'Delete the schedule', () =>
      void act(schedule, 'delete')
    )
  );
  return li;
}

function webhookRow(
  webhook: IWebhookItem,
  allowed: ISettingsAccess,
  actions: ISectionActions
): HTMLElement {
  const li = row('flowat-webhook', webhook.workflow, describeWebhook(webhook));
  li.dataset.id = webhook.id;
  li.dataset.workflow = webhook.workflow;
  const act = actions.webhookAction;
  if (!allowed.webhooksWrite || !act) {
    return li;
  }
  if (webhook.signed) {
    li.append(
      button('Rotate secret', 'flowat-webhook-rotate', 'A new signing secret, shown once', () =>
        void act(webhook, 'rotate')
      )
    );
  }
  li.append(
    button('Batching…', 'flowat-webhook-batching', 'Group events into one run', () =>
      void act(webhook, 'batching')
    ),
    button('Delete', 'jp-mod-warn flowat-webhook-delete', 'Delete the webhook', () =>
      void act(webhook, 'delete')
    )
  );
  return li;
}

function alertRow(alert: IAlertItem): HTMLElement {
  const li = row('flowat-alert', alert.workflow ?? 'all workflows', describeAlert(alert));
  li.dataset.id = alert.id;
  li.dataset.event = alert.event;
  return li;
}

function secretRow(
  secret: ISecretItem,
  allowed: ISettingsAccess,
  actions: ISectionActions
): HTMLElement {
  const li = row('flowat-secret', secret.name, describeSecret(secret));
  li.dataset.name = secret.name;
  const detail = actions.secretDetail;
  if (detail) {
    li.append(
      button('History', 'flowat-secret-history', 'Its versions, who set them, and its usage', () =>
        void detail(secret.name)
      )
    );
  }
  if (!allowed.secretsWrite) {
    return li;
  }
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

/** A small button of a section's row or summary. */
export function button(
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
