/**
 * The panel's other resources with no JupyterLab or DOM dependency: schedules, webhooks,
 * secret names, dead letters, which endpoints the server has (read from its OpenAPI
 * document), run links in the magics' output, and the extension's settings. Everything
 * here is unit-tested (labextension/test/resources.test.ts).
 */

import { formatTime } from './model';

/** One item of GET /api/v1/schedules. */
export interface IScheduleItem {
  id: string;
  workflow: string;
  version: number | 'latest';
  cron?: string | null;
  every?: string | number | null;
  timezone?: string | null;
  parameters?: Record<string, unknown>;
  paused: boolean;
  next_runs: string[];
}

/** One item of GET /api/v1/webhooks (never its token). */
export interface IWebhookItem {
  id: string;
  workflow: string;
  version: number | null;
  token_hint: string;
  signed: boolean;
  last_delivery_at: string | null;
  batch?: number | null;
  batch_window_ms?: number | null;
}

/** One item of GET /api/v1/alerts: when a workflow's runs (or every run) tell whom. */
export interface IAlertItem {
  id: string;
  workflow: string | null;
  event: string;
  kind: string;
  target: string;
  message?: string | null;
}

/**
 * An alert in one line: its event and where it goes. A URL shows only its host: chat and
 * HTTP webhook URLs often carry their credential in the path or query.
 */
export function describeAlert(alert: IAlertItem): string {
  let where = alert.target;
  if (alert.kind === 'chat' || alert.kind === 'webhook' || /^https?:/i.test(alert.target)) {
    try {
      where = new URL(alert.target).host;
    } catch {
      where = 'an address';
    }
  }
  const scope = alert.workflow ? '' : ' · every workflow (organization default)';
  return `on ${alert.event} → ${alert.kind} ${where}${scope}`;
}

/** One item of GET /api/v1/secrets: metadata, never a value. */
export interface ISecretItem {
  name: string;
  version: number;
  created_at: string | null;
  rotated_at: string | null;
  last_used_at: string | null;
  used_by: string[];
}

/** One dead letter: a step that exhausted its retries. */
export interface IDeadLetter {
  id: string;
  run_id: string;
  workflow: string;
  version: number;
  step: string;
  error: { type?: string; message?: string } | string | null;
  status: string;
  created_at: string;
  redrive_run_id: string | null;
}

/** A schedule in one line: when it fires, its version, and when next. */
export function describeSchedule(schedule: IScheduleItem): string {
  const when = schedule.cron
    ? `cron ${schedule.cron}${schedule.timezone ? ` (${schedule.timezone})` : ''}`
    : schedule.every !== undefined && schedule.every !== null
      ? `every ${typeof schedule.every === 'number' ? `${schedule.every} s` : schedule.every}`
      : 'no timing';
  const version = schedule.version === 'latest' ? 'latest' : `v${schedule.version}`;
  const next = schedule.paused
    ? 'paused'
    : schedule.next_runs?.length
      ? `next ${formatTime(schedule.next_runs[0])}`
      : 'no next firing';
  return [when, version, next].join(' · ');
}

/** A webhook in one line: its token's hint (never the token), signing and batching. */
export function describeWebhook(webhook: IWebhookItem): string {
  const parts = [`…${webhook.token_hint}`, webhook.signed ? 'signed' : 'unsigned'];
  parts.push(webhook.version === null || webhook.version === undefined ? 'latest' : `v${webhook.version}`);
  if (webhook.batch && webhook.batch > 1) {
    parts.push(`batches of ${webhook.batch} within ${webhook.batch_window_ms ?? 0} ms`);
  }
  parts.push(
    webhook.last_delivery_at ? `last event ${formatTime(webhook.last_delivery_at)}` : 'no events yet'
  );
  return parts.join(' · ');
}

/** A secret's metadata in one line: version, when set, last use and by which workflows. */
export function describeSecret(secret: ISecretItem): string {
  const parts = [`v${secret.version}`];
  const set = secret.rotated_at ?? secret.created_at;
  if (set) {
    parts.push(`set ${formatTime(set)}`);
  }
  parts.push(secret.last_used_at ? `used ${formatTime(secret.last_used_at)}` : 'never used');
  if (secret.used_by?.length) {
    parts.push(`by ${secret.used_by.join(', ')}`);
  }
  return parts.join(' · ');
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

/** What is wrong with a secret's name or value, or '' (the vault's own rules). */
export function secretProblem(name: string, value: string): string {
  if (!SECRET_NAME.test(name)) {
    return (
      `"${name}" is not a valid secret name: use up to 128 letters, digits, '_', '.' or '-', ` +
      "starting with a letter or '_' (for example openai_api_key)"
    );
  }
  if (!value) {
    return 'The value is empty: paste the secret into the value field.';
  }
  if (value.length > 65536) {
    return 'The value is longer than 65,536 characters.';
  }
  return '';
}

/** A dead letter's error as one line. */
export function deadLetterError(letter: IDeadLetter): string {
  const error = letter.error;
  if (!error) {
    return '';
  }
  if (typeof error === 'string') {
    return error;
  }
  return [error.type, error.message].filter(Boolean).join(': ');
}

/**
 * The operations a server has, from its OpenAPI document: `METHOD /path` with every
 * `{parameter}` written `{}`, so `POST /runs/{run_id}/rerun` and `POST /runs/{id}/rerun`
 * are the same operation.
 */
export class Capabilities {
  private operations: Set<string>;

  constructor(document: { paths?: Record<string, Record<string, unknown>> } | null) {
    this.operations = new Set();
    for (const [path, methods] of Object.entries(document?.paths ?? {})) {
      for (const method of Object.keys(methods ?? {})) {
        this.operations.add(operationKey(method, path.replace(/^\/api\/v1/, '')));
      }
    }
  }

  /** Whether the server has `method path` (a path under /api/v1, any parameter names). */
  has(method: string, path: string): boolean {
    return this.operations.has(operationKey(method, path));
  }

  /** The first of `paths` the server has for `method`, or null. */
  first(method: string, ...paths: string[]): string | null {
    return paths.find(path => this.has(method, path)) ?? null;
  }
}

function operationKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path.replace(/\{[^}]*\}/g, '{}')}`;
}

/** Fill a path's `{parameters}` in order with URL-encoded values. */
export function fillPath(path: string, ...values: string[]): string {
  let index = 0;
  return path.replace(/\{[^}]*\}/g, () => encodeURIComponent(values[index++] ?? ''));
}

/** Whether a run can be re-run (it has finished) or resumed (it failed or timed out). */
export function runActions(status: string): { rerun: boolean; resume: boolean } {
  const finished = ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(status);
  return { rerun: finished, resume: status === 'failed' || status === 'timed_out' };
}

/**
 * What a link the magics print asks for: `#flowat-run=ID` opens a run view,
 * `#flowat-workflow=NAME` shows the panel filtered to a workflow. Null for other links.
 */
export function parseFlowAtLink(
  href: string | null | undefined
): { run: string } | { workflow: string } | null {
  if (!href) {
    return null;
  }
  const hash = href.slice(href.indexOf('#') + 1);
  if (href.indexOf('#') < 0 || !hash) {
    return null;
  }
  const match = /^flowat-(run|workflow)=(.+)$/.exec(hash);
  if (!match) {
    return null;
  }
  let value: string;
  try {
    value = decodeURIComponent(match[2]);
  } catch {
    return null;
  }
  if (match[1] === 'run') {
    return /^[0-9a-fA-F-]{8,64}$/.test(value) ? { run: value } : null;
  }
  return /^[\w.-]{1,128}$/.test(value) ? { workflow: value } : null;
}

/** The extension's settings (schema/plugin.json), with their defaults. */
export interface IFlowAtSettings {
  defaultWorkflow: string;
  pollSeconds: number;
  notifications: boolean;
}

export const DEFAULT_SETTINGS: IFlowAtSettings = {
  defaultWorkflow: '',
  pollSeconds: 3,
  notifications: true
};

/** Settings as JupyterLab's registry holds them, checked; a bad value keeps its default. */
export function readSettings(composite: Record<string, unknown> | null | undefined): IFlowAtSettings {
  const value = composite ?? {};
  const poll = Number(value.pollSeconds);
  return {
    defaultWorkflow:
      typeof value.defaultWorkflow === 'string' ? value.defaultWorkflow.trim() : '',
    pollSeconds:
      Number.isFinite(poll) && poll >= 1 && poll <= 600 ? poll : DEFAULT_SETTINGS.pollSeconds,
    notifications:
      typeof value.notifications === 'boolean' ? value.notifications : DEFAULT_SETTINGS.notifications
  };
}

/** A report notebook's path in the Jupyter root for a run: `flowat-reports/W-RUN12.ipynb`. */
export function reportPath(workflow: string, runId: string): string {
  const safe = workflow.replace(/[^\w.-]/g, '_');
  return `flowat-reports/${safe}-${runId.slice(0, 12)}.ipynb`;
}

/** One problem of POST /api/v1/compile: where (cell and line, 1-based) and what. */
export interface ICompileProblem {
  code: string;
  message: string;
  step: string | null;
  cell: number | null;
  line: number | null;
}

/** Problems by cell position (1-based, in notebook order); those with no cell left out. */
export function problemsByCell(problems: ICompileProblem[]): Map<number, ICompileProblem[]> {
  const found = new Map<number, ICompileProblem[]>();
  for (const problem of problems) {
    if (typeof problem.cell === 'number' && problem.cell >= 1) {
      found.set(problem.cell, [...(found.get(problem.cell) ?? []), problem]);
    }
  }
  return found;
}

/** A problem as one line for its cell: `line 2: message`. */
export function problemText(problem: ICompileProblem): string {
  return problem.line ? `line ${problem.line}: ${problem.message}` : problem.message;
}

/** Whether any of a notebook's cell sources is a `%%flowat step` cell. */
export function hasStepCell(sources: string[]): boolean {
  return sources.some(source => /^\uFEFF?%%flowat\s+step\s/.test(source));
}
