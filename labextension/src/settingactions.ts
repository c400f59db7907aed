/**
 * What the sections' editing buttons do: a secret's history and usage, the master-key
 * rotation (confirmed first), editing, pausing, resuming and deleting schedules, and
 * creating, re-keying, batching and deleting webhooks. Each goes through the REST API;
 * a new webhook URL or signing secret is shown once (shownonce.ts).
 */

import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { FlowAtApi } from './api';
import { askForm, confirm } from './formdialog';
import { batchingChange, describeSecretDetail, scheduleChange } from './orgsettings';
import { IScheduleItem, IWebhookItem } from './resources';
import { ISectionActions } from './sections';
import { showOnce } from './shownonce';

type Editing = Required<
  Pick<
    ISectionActions,
    | 'secretDetail'
    | 'rotateMasterKey'
    | 'editSchedule'
    | 'scheduleAction'
    | 'addWebhook'
    | 'webhookAction'
  >
>;

async function failed(what: string, error: unknown): Promise<void> {
  await showErrorMessage(`FlowAt: cannot ${what}`, (error as Error).message);
}

/** The editing actions over `api`; `refresh(section)` redraws a section after a change. */
export function editingActions(
  api: FlowAtApi,
  refresh: (section: string) => Promise<void>
): Editing {
  return {
    async secretDetail(name: string): Promise<void> {
      try {
        const [usage, history] = await Promise.all([api.secretUsage(name), api.secretHistory(name)]);
        const body = document.createElement('ul');
        body.className = 'flowat-SecretDetail';
        for (const line of describeSecretDetail(usage, history)) {
          const li = document.createElement('li');
          li.textContent = line;
          body.append(li);
        }
        await showDialog({
          title: `Secret ${name}: history and usage`,
          body: new Widget({ node: body }),
          buttons: [Dialog.okButton({ label: 'Close' })]
        });
      } catch (error) {
        await failed(`read the history of ${name}`, error);
      }
    },

    async rotateMasterKey(): Promise<void> {
      const sure = await confirm(
        'Rotate the master key?',
        'FlowAt makes a new master key and re-wraps every secret, webhook and signing key ' +
          'under it, a batch at a time; runs keep working meanwhile. Keep a backup of the ' +
          'key file (or FLOWAT_MASTER_KEY) as your operations guide says.',
        'Rotate'
      );
      if (!sure) {
        return;
      }
      try {
        const report = await api.rotateMasterKey();
        Notification.success(
          `Master key rotated: ${report.rewrapped} keys re-wrapped, ${report.remaining} left`,
          { autoClose: 6000 }
        );
        await refresh('secrets');
      } catch (error) {
        await failed('rotate the master key', error);
      }
    },

    async editSchedule(schedule: IScheduleItem): Promise<void> {
      const values = await askForm(
        `Edit the schedule of ${schedule.workflow}`,
        [
          {
            name: 'timing',
            label: 'Timing',
            kind: 'select',
            options: ['cron', 'every'],
            value: schedule.cron ? 'cron' : 'every'
          },
          { name: 'cron', label: 'Cron expression', value: schedule.cron ?? '', placeholder: '0 6 * * 1-5' },
          {
            name: 'every',
            label: 'Every',
            value: schedule.every === null || schedule.every === undefined ? '' : String(schedule.every),
            placeholder: '15m'
          },
          { name: 'timezone', label: 'Time zone', value: schedule.timezone ?? 'UTC' },
          {
            name: 'parameters',
            label: 'Parameters (JSON)',
            kind: 'textarea',
            value: JSON.stringify(schedule.parameters ?? {}, null, 1)
          }
        ],
        v => scheduleChange(form(v)).problem
      );
      if (!values) {
        return;
      }
      const change = scheduleChange(form(values));
      if (!change.body) {
        return;
      }
      try {
        await api.updateSchedule(schedule.id, change.body);
        Notification.success(`Schedule of ${schedule.workflow} changed`, { autoClose: 4000 });
      } catch (error) {
        await failed('change the schedule', error);
      }
      await refresh('schedules');
    },

    async scheduleAction(schedule: IScheduleItem, action: 'pause' | 'resume' | 'delete') {
      try {
        if (action === 'delete') {
          const sure = await confirm(
            `Delete the schedule of ${schedule.workflow}?`,
            'It stops firing at once; runs it started stay.',
            'Delete'
          );
          if (!sure) {
            return;
          }
          await api.deleteSchedule(schedule.id);
        } else {
          await api.scheduleAction(schedule.id, action);
        }
      } catch (error) {
        await failed(`${action} the schedule`, error);
      }
      await refresh('schedules');
    },

    async addWebhook(): Promise<void> {
      let workflows: string[] = [];
      try {
        workflows = (await api.workflows()).map(w => w.name);
      } catch (error) {
        await failed('list the workflows', error);
        return;
      }
      if (!workflows.length) {
        await showErrorMessage('FlowAt: no workflow', 'Publish a workflow first.');
        return;
      }
      const values = await askForm(
        'Create a webhook',
        [
          { name: 'workflow', label: 'Workflow', kind: 'select', options: workflows },
          { name: 'signed', label: 'Signed (HMAC, with a replay window)', kind: 'checkbox', value: true }
        ],
        () => '',
        'Create'
      );
      if (!values) {
        return;
      }
      try {
        const created = await api.createWebhook(String(values.workflow), Boolean(values.signed));
        const shown = [{ label: 'URL (it carries its credential)', value: created.url }];
        if (created.secret) {
          shown.push({ label: 'Signing secret', value: created.secret });
        }
        await showOnce(
          `Webhook for ${created.workflow}`,
          shown,
          'Give these to the sender. FlowAt shows them only now.'
        );
      } catch (error) {
        await failed('create the webhook', error);
      }
      await refresh('webhooks');
    },

    async webhookAction(webhook: IWebhookItem, action: 'rotate' | 'batching' | 'delete') {
      try {
        if (action === 'rotate') {
          const sure = await confirm(
            `Rotate the signing secret of ${webhook.workflow}'s webhook?`,
            'The old secret stops verifying at once: senders need the new one.',
            'Rotate'
          );
          if (sure) {
            const rotated = await api.rotateWebhookSecret(webhook.id);
            await showOnce(
              `New signing secret (…${webhook.token_hint})`,
              rotated.secret,
              'Give it to the sender. FlowAt shows it only now.'
            );
          }
        } else if (action === 'batching') {
          const values = await askForm(
            `Batching of ${webhook.workflow}'s webhook`,
            [
              { name: 'batch', label: 'Events per run (empty: one run per event)', value: webhook.batch ? String(webhook.batch) : '' },
              {
                name: 'window',
                label: 'Within (e.g. 20ms, 0.5s)',
                value: webhook.batch_window_ms ? `${webhook.batch_window_ms}ms` : ''
              }
            ],
            v => batchingChange(String(v.batch), String(v.window)).problem
          );
          const change = values && batchingChange(String(values.batch), String(values.window));
          if (change?.body) {
            await api.updateWebhook(webhook.id, change.body);
          }
        } else {
          const sure = await confirm(
            `Delete ${webhook.workflow}'s webhook (…${webhook.token_hint})?`,
            'Its URL stops working at once.',
            'Delete'
          );
          if (sure) {
            await api.deleteWebhook(webhook.id);
          }
        }
      } catch (error) {
        await failed(`${action === 'batching' ? 'change the batching of' : action} the webhook`, error);
      }
      await refresh('webhooks');
    }
  };
}

function form(values: Record<string, string | boolean>) {
  return {
    timing: values.timing === 'every' ? ('every' as const) : ('cron' as const),
    cron: String(values.cron ?? ''),
    every: String(values.every ?? ''),
    timezone: String(values.timezone ?? ''),
    parameters: String(values.parameters ?? '')
  };
}
