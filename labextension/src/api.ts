/**
 * FlowAt's REST API as served inside Jupyter (`/api/v1/...` under the server's base
 * URL). Requests go through JupyterLab's server connection, so they carry the logged-in
 * user's credentials and Jupyter's XSRF token like every other request of the page.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IRunItem, IStepState, IWorkflowItem, IWorkflowSpec } from './model';
import {
  IApiKey,
  IAuditEntry,
  IAuditFilter,
  IInvitation,
  IMe,
  IMember,
  ISecretEvent,
  ISecretUsage,
  auditQuery
} from './orgsettings';
import {
  IAlertItem,
  Capabilities,
  ICompileProblem,
  IDeadLetter,
  IScheduleItem,
  ISecretItem,
  IWebhookItem,
  fillPath
} from './resources';

/** An error the API answered with (`{"error": {"code", "message"}}`). */
export class FlowAtApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

/** One version of a workflow, with its spec. */
export interface IVersionDocument {
  workflow: string;
  version: number;
  created_at: string;
  steps: string[];
  inputs: { name: string; type: string; default?: unknown }[];
  spec: IWorkflowSpec;
}

/** A run as GET /api/v1/runs/{id} answers. */
export interface IRunDocument {
  workflow: string;
  version: number;
  run_id: string;
  status: string;
  trigger: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  parameters: Record<string, unknown>;
  outputs: Record<string, Record<string, unknown>>;
  steps: IStepState[];
  error?: { message?: string; type?: string; step?: string };
}

/** A step's logs (GET /api/v1/runs/{id}/logs), masked as stored. */
export interface IStepLogs {
  name: string;
  logs: string;
}

/** Where a run is in Temporal: GET /api/v1/runs/{id}/temporal. */
export interface ITemporalLink {
  run_id: string;
  workflow_id: string;
  namespace: string;
  ui_url: string | null;
  url: string | null;
  reason: string | null;
}

/** The paths tried, in order, for the dead-letter queue and its actions. */
export const DEAD_LETTER_PATHS = {
  list: ['/dead-letters', '/dlq'],
  retry: ['/dead-letters/{id}/retry', '/dlq/{id}/retry'],
  discard: ['/dead-letters/{id}/discard', '/dlq/{id}/discard']
};

/** Calls to FlowAt's REST API. */
export class FlowAtApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** The JSON answer of `method path`; throws FlowAtApiError on an error status. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'api/v1', path);
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    const text = await response.text();
    let data: any = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data?.error ?? {};
      throw new FlowAtApiError(
        response.status,
        String(error.code ?? 'error'),
        String(error.message ?? `${method} ${path} answered ${response.status}`)
      );
    }
    return data as T;
  }

  /** The organization's workflows with their latest version. */
  async workflows(): Promise<IWorkflowItem[]> {
    return (await this.request<{ items: IWorkflowItem[] }>('GET', 'workflows')).items;
  }

  /** One version of a workflow, with its spec (the latest when `version` is omitted). */
  async version(workflow: string, version?: number): Promise<IVersionDocument> {
    const name = encodeURIComponent(workflow);
    if (version === undefined) {
      const found = await this.request<{ latest: IVersionDocument }>('GET', `workflows/${name}`);
      return found.latest;
    }
    return this.request<IVersionDocument>('GET', `workflows/${name}/versions/${version}`);
  }

  /** Recent runs, newest first, optionally of one workflow and status. */
  async runs(filters: { workflow?: string; status?: string; limit?: number } = {}): Promise<
    IRunItem[]
  > {
    const query = new URLSearchParams();
    if (filters.workflow) {
      query.set('workflow', filters.workflow);
    }
    if (filters.status) {
      query.set('status', filters.status);
    }
    query.set('limit', String(filters.limit ?? 50));
    return (await this.request<{ items: IRunItem[] }>('GET', `runs?${query}`)).items;
  }

  /** One run with its steps and outputs. */
  async run(runId: string): Promise<IRunDocument> {
    return this.request<IRunDocument>('GET', `runs/${encodeURIComponent(runId)}`);
  }

  /** A run's step states. */
  async steps(runId: string): Promise<IStepState[]> {
    const path = `runs/${encodeURIComponent(runId)}/steps`;
    return (await this.request<{ items: IStepState[] }>('GET', path)).items;
  }

  /** A run's step logs. */
  async logs(runId: string): Promise<IStepLogs[]> {
    const path = `runs/${encodeURIComponent(runId)}/logs`;
    return (await this.request<{ items: IStepLogs[] }>('GET', path)).items;
  }

  /** Start a run of `workflow` with `parameters`; the queued run. */
  async start(workflow: string, parameters: Record<string, unknown>): Promise<IRunDocument> {
    const path = `workflows/${encodeURIComponent(workflow)}/runs`;
    return this.request<IRunDocument>('POST', path, { parameters });
  }

  /** Cancel a running run. */
  async cancel(runId: string): Promise<IRunDocument> {
    return this.request<IRunDocument>('POST', `runs/${encodeURIComponent(runId)}/cancel`);
  }
  private capabilitiesRead: Promise<Capabilities> | null = null;

  /** The operations this server has (its OpenAPI document, read once). */
  capabilities(): Promise<Capabilities> {
    if (!this.capabilitiesRead) {
      this.capabilitiesRead = this.request<any>('GET', 'openapi.json').then(
        document => new Capabilities(document),
        error => {
          this.capabilitiesRead = null;
          throw error;
        }
      );
    }
    return this.capabilitiesRead;
  }

  /** Schedules with their next firings. */
  async schedules(): Promise<IScheduleItem[]> {
    return (await this.request<{ items: IScheduleItem[] }>('GET', 'schedules')).items;
  }

  /** Webhooks (never their tokens). */
  async webhooks(): Promise<IWebhookItem[]> {
    return (await this.request<{ items: IWebhookItem[] }>('GET', 'webhooks')).items;
  }

  /** The organization's alerts (a workflow's own and the organization's defaults). */
  async alerts(): Promise<IAlertItem[]> {
    return (await this.request<{ items: IAlertItem[] }>('GET', 'alerts')).items;
  }

  /** Secret names and metadata, never values. */
  async secrets(): Promise<ISecretItem[]> {
    return (await this.request<{ items: ISecretItem[] }>('GET', 'secrets')).items;
  }

  /**
   * Set or replace a secret. The value goes in this request's body only; the answer is
   * the secret's metadata.
   */
  async setSecret(name: string, value: string): Promise<ISecretItem> {
    return this.request<ISecretItem>('PUT', `secrets/${encodeURIComponent(name)}`, { value });
  }

  /** Delete a secret. */
  async deleteSecret(name: string): Promise<void> {
    await this.request('DELETE', `secrets/${encodeURIComponent(name)}`);
  }

  /** Parked dead letters, newest first, from whichever list endpoint the server has. */
  async deadLetters(): Promise<IDeadLetter[]> {
    const caps = await this.capabilities();
    const path = caps.first('GET', ...DEAD_LETTER_PATHS.list) ?? DEAD_LETTER_PATHS.list[1];
    const query = new URLSearchParams({ status: 'parked', limit: '50' });
    return (await this.request<{ items: IDeadLetter[] }>('GET', `${path.slice(1)}?${query}`))
      .items;
  }

  /** Retry or discard a dead letter; throws when the server has no such endpoint. */
  async resolveDeadLetter(id: string, action: 'retry' | 'discard'): Promise<unknown> {
    const caps = await this.capabilities();
    const path = caps.first('POST', ...DEAD_LETTER_PATHS[action]);
    if (!path) {
      throw new FlowAtApiError(404, 'not_found', `this server cannot ${action} dead letters`);
    }
    return this.request('POST', fillPath(path, id).slice(1), {});
  }

  /** Start the same workflow again with a run's parameters: the new run. */
  async rerun(runId: string): Promise<IRunDocument> {
    return this.request<IRunDocument>('POST', `runs/${encodeURIComponent(runId)}/rerun`, {});
  }

  /** Resume a failed run from its failed step (earlier steps' outputs reused): the new run. */
  async resume(runId: string): Promise<IRunDocument> {
    return this.request<IRunDocument>('POST', `runs/${encodeURIComponent(runId)}/resume`, {});
  }

  /** The run as an executed notebook (nbformat 4 JSON). */
  async report(runId: string): Promise<Record<string, unknown>> {
    return this.request('GET', `runs/${encodeURIComponent(runId)}/report`);
  }

  /** The run's page in Temporal's Web UI (url null, with a reason, when not known). */
  async temporalLink(runId: string): Promise<ITemporalLink> {
    return this.request<ITemporalLink>('GET', `runs/${encodeURIComponent(runId)}/temporal`);
  }

  /** Compile cells without publishing: every problem, with its cell and line. */
  async compile(
    cells: { source: string; cell_type: string; tags: string[] }[],
    name?: string
  ): Promise<ICompileProblem[]> {
    const body = name ? { name, cells } : { cells };
    return (await this.request<{ problems: ICompileProblem[] }>('POST', 'compile', body)).problems;
  }

  // -- the caller and the organization's settings -------------------------------------

  private meRead: Promise<IMe> | null = null;

  /** Who the panel acts as (read once; `fresh` reads again). */
  me(fresh = false): Promise<IMe> {
    if (!this.meRead || fresh) {
      this.meRead = this.request<IMe>('GET', 'me').catch(error => {
        this.meRead = null;
        throw error;
      });
    }
    return this.meRead;
  }

  /** The organization's members and roles. */
  async members(): Promise<IMember[]> {
    return (await this.request<{ items: IMember[] }>('GET', 'members')).items;
  }

  /** Change a member's role. */
  async setMemberRole(user: string, role: string): Promise<IMember> {
    return this.request<IMember>('PUT', `members/${encodeURIComponent(user)}`, { role });
  }

  /** Remove a member (their keys stop working at once). */
  async removeMember(user: string): Promise<void> {
    await this.request('DELETE', `members/${encodeURIComponent(user)}`);
  }

  /** The organization's invitations (never their tokens). */
  async invitations(): Promise<IInvitation[]> {
    return (await this.request<{ items: IInvitation[] }>('GET', 'invitations')).items;
  }

  /** Invite `user` with `role`: the invitation with its one-time `token`, shown once. */
  async invite(user: string, role: string): Promise<IInvitation & { token: string }> {
    return this.request('POST', 'invitations', { user, role });
  }

  /** Redeem an invitation made for the caller: the organization joined, and the role. */
  async redeemInvitation(token: string): Promise<{ organization: string; role: string }> {
    return this.request('POST', 'invitations/redeem', { token });
  }

  /** Revoke an open invitation. */
  async revokeInvitation(id: string): Promise<IInvitation> {
    return this.request<IInvitation>('DELETE', `invitations/${encodeURIComponent(id)}`);
  }

  /** The organization's API keys (prefix and metadata, never a key). */
  async keys(): Promise<IApiKey[]> {
    return (await this.request<{ items: IApiKey[] }>('GET', 'keys')).items;
  }

  /** Create an API key: its metadata with the `key`, shown once. */
  async createKey(name: string, scopes: string[]): Promise<IApiKey & { key: string }> {
    return this.request('POST', 'keys', { name, scopes });
  }

  /** Revoke an API key (at once). */
  async revokeKey(id: string): Promise<IApiKey> {
    return this.request<IApiKey>('DELETE', `keys/${encodeURIComponent(id)}`);
  }

  /** Replace a key; the new `key` is shown once, the old one works `overlapSeconds` more. */
  async rotateKey(id: string, overlapSeconds = 3600): Promise<IApiKey & { key: string }> {
    return this.request('POST', `keys/${encodeURIComponent(id)}/rotate`, {
      overlap_seconds: overlapSeconds
    });
  }

  /** One page of the audit log, newest first. */
  async audit(filter: IAuditFilter): Promise<IAuditEntry[]> {
    return (await this.request<{ items: IAuditEntry[] }>('GET', `audit?${auditQuery(filter)}`))
      .items;
  }

  /** When a secret was set, replaced and deleted, and by whom (never values). */
  async secretHistory(name: string): Promise<ISecretEvent[]> {
    const path = `secrets/${encodeURIComponent(name)}/history`;
    return (await this.request<{ items: ISecretEvent[] }>('GET', path)).items;
  }

  /** Which workflows used a secret and which steps name it (never its value). */
  async secretUsage(name: string): Promise<ISecretUsage> {
    return this.request<ISecretUsage>('GET', `secrets/${encodeURIComponent(name)}/usage`);
  }

  /** Rotate the master key (an Owner acting directly only): the rotation's report. */
  async rotateMasterKey(): Promise<{ active_key: string; rewrapped: number; remaining: number }> {
    return this.request('POST', 'vault/rotate', {});
  }

  // -- editing schedules and webhooks --------------------------------------------------

  /** Change a schedule (cron or every, time zone, parameters...): the schedule. */
  async updateSchedule(id: string, change: Record<string, unknown>): Promise<IScheduleItem> {
    return this.request<IScheduleItem>('PATCH', `schedules/${encodeURIComponent(id)}`, change);
  }

  /** Pause or resume a schedule. */
  async scheduleAction(id: string, action: 'pause' | 'resume'): Promise<IScheduleItem> {
    return this.request<IScheduleItem>('POST', `schedules/${encodeURIComponent(id)}/${action}`, {});
  }

  /** Delete a schedule. */
  async deleteSchedule(id: string): Promise<void> {
    await this.request('DELETE', `schedules/${encodeURIComponent(id)}`);
  }

  /** Create a webhook: its `url` and (signed) `secret` are shown once. */
  async createWebhook(
    workflow: string,
    signed: boolean
  ): Promise<IWebhookItem & { url: string; secret: string | null }> {
    return this.request('POST', 'webhooks', { workflow, signed });
  }

  /** A signed webhook's new signing secret, shown once. */
  async rotateWebhookSecret(id: string): Promise<IWebhookItem & { secret: string }> {
    return this.request('POST', `webhooks/${encodeURIComponent(id)}/rotate-secret`, {});
  }

  /** Change a webhook's batching. */
  async updateWebhook(id: string, change: Record<string, unknown>): Promise<IWebhookItem> {
    return this.request<IWebhookItem>('PATCH', `webhooks/${encodeURIComponent(id)}`, change);
  }

  /** Delete a webhook (its URL stops working at once). */
  async deleteWebhook(id: string): Promise<void> {
    await this.request('DELETE', `webhooks/${encodeURIComponent(id)}`);
  }
}
