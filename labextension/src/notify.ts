/**
 * Notifications for runs started from this JupyterLab: each is watched through the REST
 * API until it ends, then a JupyterLab notification says how it ended, with a button
 * that opens its run view. The watched runs are kept in the page's session storage, so
 * a reload keeps watching them.
 */

import { Notification } from '@jupyterlab/apputils';

import { FlowAtApi } from './api';
import { FINISHED, formatDuration, runSeconds } from './model';

/** How often watched runs are read, in milliseconds. */
export const WATCH_POLL_MS = 2000;
const STORAGE_KEY = 'flowat:watched-runs';

/** Watches runs and notifies when they end. */
export class RunWatcher {
  private watched = new Set<string>();
  /** Whether an ended run raises a notification (the settings' "notifications"). */
  notify = true;
  private timer = 0;

  constructor(
    readonly api: FlowAtApi,
    private openRun: (runId: string) => void
  ) {
    for (const runId of this.stored()) {
      this.watched.add(runId);
    }
    if (this.watched.size) {
      this.schedule();
    }
  }

  /** Watch `runId` until it ends. */
  watch(runId: string): void {
    this.watched.add(runId);
    this.store();
    this.schedule();
  }

  private stored(): string[] {
    try {
      const value = JSON.parse(window.sessionStorage.getItem(STORAGE_KEY) ?? '[]');
      return Array.isArray(value) ? value.filter(v => typeof v === 'string') : [];
    } catch {
      return [];
    }
  }

  private store(): void {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify([...this.watched]));
    } catch {
      // storage full or refused: watching still works until the page reloads
    }
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.poll(), WATCH_POLL_MS);
  }

  private async poll(): Promise<void> {
    for (const runId of [...this.watched]) {
      try {
        const run = await this.api.run(runId);
        if (!FINISHED.has(run.status)) {
          continue;
        }
        this.watched.delete(runId);
        if (!this.notify) {
          continue;
        }
        const took = formatDuration(runSeconds(run as any));
        const text = `FlowAt run of ${run.workflow} v${run.version} ${run.status.replace('_', ' ')}`;
        const message = took ? `${text} after ${took}` : text;
        const options = {
          autoClose: run.status === 'succeeded' ? 8000 : (false as const),
          actions: [{ label: 'Open run', callback: () => this.openRun(runId) }]
        };
        if (run.status === 'succeeded') {
          Notification.success(message, options);
        } else if (run.status === 'cancelled') {
          Notification.warning(message, options);
        } else {
          const why = run.error?.message ? `: ${run.error.message}` : '';
          Notification.error(`${message}${why}`, options);
        }
      } catch (error) {
        if ((error as { status?: number }).status === 404) {
          this.watched.delete(runId);
        }
      }
    }
    this.store();
    if (this.watched.size) {
      this.schedule();
    }
  }
}
