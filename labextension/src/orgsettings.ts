/**
 * The organization settings' logic, with no JupyterLab or DOM dependency: what the
 * caller's role lets the panel offer (read from GET /api/v1/me; the server checks again),
 * which roles they may grant, the audit log's filter and pages, and checks of the
 * schedule and webhook editing forms before anything is sent. Unit-tested in
 * labextension/test/orgsettings.test.ts.
 */

import { formatTime } from './model';

/** GET /api/v1/me: who the credential belongs to, and what it may do. */
export interface IMe {
  user: string;
  organization: string;
  role: string;
  via: string;
  key_id: string | null;
  session_id?: string | null;
  permissions: string[];
}

/** One member of GET /api/v1/members. */
export interface IMember {
  user: string;
  role: string;
  since: string;
}

/** One invitation of GET /api/v1/invitations (never its token). */
export interface IInvitation {
  id: string;
  user: string;
  role: string;
  status: 'open' | 'redeemed' | 'revoked' | 'expired' | string;
  created_by: string;
  created_at: string;
  expires_at: string;
}

/** One API key of GET /api/v1/keys (its prefix and metadata, never the key). */
export interface IApiKey {
  id: string;
  name: string;
  user?: string;
  prefix?: string;
  scopes: string[];
  workflows?: string[] | null;
  created_at?: string;
  expires_at?: string | null;
  revoked_at?: string | null;
  last_used_at?: string | null;
}

/** One entry of GET /api/v1/audit. */
export interface IAuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

/** The roles, most powerful first. */
export const ROLES = ['owner', 'administrator', 'editor', 'viewer'] as const;

/** What the panel offers the caller; each flag mirrors a permission the server checks. */
export interface ISettingsAccess {
  members: boolean;
  manageMembers: boolean;
  keys: boolean;
  manageKeys: boolean;
  audit: boolean;
  secretsRead: boolean;
  secretsWrite: boolean;
  schedulesWrite: boolean;
  webhooksWrite: boolean;
  /** Only an Owner acting directly (the Jupyter user), never through an API key. */
  rotateMasterKey: boolean;
}

/** What `me` may do in the panel (nothing when `me` is unknown). */
export function settingsAccess(me: IMe | null): ISettingsAccess {
  const can = (permission: string) => Boolean(me?.permissions.includes(permission));
  return {
    members: can('members:read'),
    manageMembers: can('members:write'),
    keys: can('keys:read'),
    manageKeys: can('keys:write'),
    audit: can('audit:read'),
    secretsRead: can('secrets:read'),
    secretsWrite: can('secrets:write'),
    schedulesWrite: can('schedules:write'),
    webhooksWrite: can('webhooks:write'),
    rotateMasterKey:
      me !== null && me.role === 'owner' && me.via !== 'key' && !me.key_id && can('organization:write')
  };
}

function rank(role: string): number {
  const found = ROLES.indexOf(role as (typeof ROLES)[number]);
  return found < 0 ? ROLES.length : found;
}

/**
 * The roles `role` may grant (or invite to): none above its own, and the Owner role only
 * by an Owner. Empty for roles that may not manage members.
 */
export function grantableRoles(role: string): string[] {
  if (role !== 'owner' && role !== 'administrator') {
    return [];
  }
  return ROLES.filter(r => rank(r) >= rank(role));
}

/** Whether a member with `actorRole` may change or remove a member who is `memberRole`. */
export function mayManage(actorRole: string, memberRole: string): boolean {
  return grantableRoles(actorRole).includes(memberRole);
}

/** The audit log's filter and page. */
export interface IAuditFilter {
  /** Only actions starting with this (e.g. `key`, `member.`, `secret`). */
  action?: string;
  /** Only entries before this time (the page's start; empty for the newest). */
  before?: string;
  limit?: number;
}

/** The audit log's page size in the panel. */
export const AUDIT_PAGE = 25;

/** The query string of GET /api/v1/audit for `filter`. */
export function auditQuery(filter: IAuditFilter): string {
  const query = new URLSearchParams();
  const action = (filter.action ?? '').trim();
  if (action) {
    query.set('action', action);
  }
  if (filter.before) {
    query.set('before', filter.before);
  }
  query.set('limit', String(filter.limit ?? AUDIT_PAGE));
  return query.toString();
}

/** Where the next (older) page starts, or null when this page was the last. */
export function nextAuditPage(entries: IAuditEntry[], limit = AUDIT_PAGE): string | null {
  if (entries.length < limit || !entries.length) {
    return null;
  }
  return entries[entries.length - 1].at;
}

const SECRET_WORDS = /(secret|token|password|key|value|credential)$/i;

/**
 * An audit entry in one line: when, who, what, on what, and its detail (fields whose name
 * says they hold a credential are never shown, though the server records none).
 */
export function describeAuditEntry(entry: IAuditEntry): string {
  const detail = Object.entries(entry.detail ?? {})
    .filter(([name, value]) => value !== null && value !== undefined && !SECRET_WORDS.test(name))
    .filter(([name]) => name !== 'via')
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return [formatTime(entry.at), entry.actor, entry.target, detail].filter(Boolean).join(' · ');
}

/** An API key in one line: prefix, user, scopes, expiry, last use, revoked. */
export function describeKey(key: IApiKey): string {
  const parts = [key.prefix ? `${key.prefix}…` : key.id];
  if (key.user) {
    parts.push(key.user);
  }
  parts.push(key.scopes.join(' '));
  if (key.workflows?.length) {
    parts.push(`workflows ${key.workflows.join(', ')}`);
  }
  if (key.revoked_at) {
    parts.push(`revoked ${formatTime(key.revoked_at)}`);
  } else if (key.expires_at) {
    parts.push(`expires ${formatTime(key.expires_at)}`);
  }
  parts.push(key.last_used_at ? `used ${formatTime(key.last_used_at)}` : 'never used');
  return parts.join(' · ');
}

/** An invitation in one line: role, status, who invited, until when. */
export function describeInvitation(invitation: IInvitation): string {
  const until =
    invitation.status === 'open' ? `until ${formatTime(invitation.expires_at)}` : invitation.status;
  return [invitation.role, until, `by ${invitation.created_by}`].join(' · ');
}

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

/** What is wrong with an invitation's user name and role for `actorRole`, or ''. */
export function invitationProblem(user: string, role: string, actorRole: string): string {
  if (!USER_NAME.test(user)) {
    return (
      `"${user}" is not a user name: use 1-128 letters, digits, '_', '.', '@' or '-', ` +
      'starting with a letter or digit'
    );
  }
  if (!grantableRoles(actorRole).includes(role)) {
    return `As ${actorRole} you cannot invite someone as ${role}.`;
  }
  return '';
}

/** What is wrong with an API key's name and scopes, or ''. */
export function keyProblem(name: string, scopes: string[], known: string[]): string {
  if (!name.trim() || name.length > 128) {
    return 'Give the key a name (up to 128 characters), for example "ci-runner".';
  }
  if (!scopes.length) {
    return 'Choose at least one scope, for example runs:write, or * for every permission.';
  }
  const unknown = scopes.filter(s => s !== '*' && !known.includes(s));
  if (unknown.length) {
    return `Unknown scope ${unknown.join(', ')}: choose from * or ${known.join(', ')}.`;
  }
  return '';
}

/** A schedule form as typed: one of cron and every, a time zone, parameters as JSON. */
export interface IScheduleForm {
  timing: 'cron' | 'every';
  cron: string;
  every: string;
  timezone: string;
  parameters: string;
}

/** The PATCH /api/v1/schedules/{id} body of a schedule form, or the problem with it. */
export function scheduleChange(
  form: IScheduleForm
): { body: Record<string, unknown>; problem: '' } | { body: null; problem: string } {
  const body: Record<string, unknown> = {};
  if (form.timing === 'cron') {
    const fields = form.cron.trim().split(/\s+/).filter(Boolean);
    if (fields.length < 5 || fields.length > 7) {
      return {
        body: null,
        problem: `"${form.cron.trim()}" is not a cron expression: write five fields, e.g. 0 6 * * 1-5`
      };
    }
    body.cron = fields.join(' ');
  } else {
    if (!/^\d+(\.\d+)?[smhd]?$/.test(form.every.trim())) {
      return { body: null, problem: `"${form.every.trim()}" is not an interval: write 30s, 5m, 2h or 1d` };
    }
    body.every = form.every.trim();
  }
  if (form.timezone.trim()) {
    body.timezone = form.timezone.trim();
  }
  const text = form.parameters.trim();
  if (text) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { body: null, problem: 'The parameters are not JSON: write {"name": value, ...}' };
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return { body: null, problem: 'The parameters must be a JSON object: {"name": value, ...}' };
    }
    body.parameters = parsed;
  } else {
    body.parameters = {};
  }
  return { body, problem: '' };
}

/** The PATCH /api/v1/webhooks/{id} body for batching (`batch` empty: no batching). */
export function batchingChange(
  batch: string,
  window: string
): { body: Record<string, unknown>; problem: '' } | { body: null; problem: string } {
  const size = batch.trim();
  if (!size) {
    return { body: { batch: null }, problem: '' };
  }
  if (!/^\d+$/.test(size) || Number(size) < 1 || Number(size) > 1000) {
    return { body: null, problem: 'The batch size is a whole number from 1 to 1000 (empty: no batching).' };
  }
  const body: Record<string, unknown> = { batch: Number(size) };
  const within = window.trim();
  if (within) {
    if (!/^\d+(\.\d+)?(ms|s)?$/.test(within)) {
      return { body: null, problem: `"${within}" is not a window: write 20ms or 0.5s` };
    }
    body.batch_window = within;
  }
  return { body, problem: '' };
}

/** A secret's usage (GET /api/v1/secrets/{name}/usage), never its value. */
export interface ISecretUsage {
  name: string;
  version: number;
  last_used_at: string | null;
  workflows: string[];
  steps: { workflow: string; version: number; step: string }[];
}

/** One event of GET /api/v1/secrets/{name}/history. */
export interface ISecretEvent {
  action: string;
  version: number;
  at: string;
  by: string;
}

/** A secret's history and usage as lines to show. */
export function describeSecretDetail(usage: ISecretUsage, history: ISecretEvent[]): string[] {
  const lines = history.map(e => `${formatTime(e.at)} · ${e.action} v${e.version} by ${e.by}`);
  const steps = usage.steps.map(s => `${s.workflow} v${s.version} · step ${s.step}`);
  return [
    ...(lines.length ? lines : ['No history.']),
    usage.workflows.length
      ? `Used by runs of: ${usage.workflows.join(', ')}`
      : 'No run has used it yet.',
    ...(steps.length ? steps.map(s => `Named in ${s}`) : ['No step of a latest version names it.'])
  ];
}
