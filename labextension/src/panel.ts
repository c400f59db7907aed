/**
 * The FlowAt sidebar: the organization's workflows (with their latest version and a Run
 * button), recent runs (status, duration, trigger, version; cancel and re-run), filtered
 * by workflow and status, then schedules, webhooks, secrets and dead letters (see
 * sections.ts). While it is visible it reads the REST API every few seconds (the
 * settings' poll interval); it never talks to a kernel.
 */

import { Widget } from '@lumino/widgets';

import { FlowAtApi } from './api';
import { Section } from './sections';
import { runActions } from './resources';
import {
  FINISHED,
  IRunItem,
  IWorkflowItem,
  RUN_STATUSES,
  formatDuration,
  formatTime,
  runSeconds,
  stateColour
} from './model';

/** How often the visible panel reads workflows and runs by default, in milliseconds. */
export const PANEL_POLL_MS = 3000;

/** What the panel asks its host to do. */
export interface IPanelActions {
  runWorkflow(workflow: string): Promise<void>;
  showRun(runId: string): void;
  cancelRun(runId: string): Promise<void>;
  /** Re-run a finished run; absent when the server has no re-run endpoint. */
  rerunRun?(runId: string): Promise<void>;
}

/** The FlowAt sidebar panel. */
export class FlowAtPanel extends Widget {
  private workflowList = document.createElement('ul');
  private runList = document.createElement('ul');
  private workflowFilter = document.createElement('select');
  private statusFilter = document.createElement('select');
  private message = document.createElement('div');
  private timer = 0;
  private busy = false;
  private workflows: IWorkflowItem[] = [];
  private runs: IRunItem[] = [];
  /** How often the visible panel reads the API, in milliseconds. */
  pollMs = PANEL_POLL_MS;

  constructor(
    readonly api: FlowAtApi,
    private actions: IPanelActions,
    private sections: Section[] = []
  ) {
    super();
    this.id = 'flowat-panel';
    this.addClass('flowat-Panel');
    this.title.caption = 'FlowAt: workflows and runs';
    this.workflowList.className = 'flowat-Panel-workflows';
    this.runList.className = 'flowat-Panel-runs';
    this.message.className = 'flowat-Panel-message';
    this.workflowFilter.className = 'jp-mod-styled flowat-filter-workflow';
    this.statusFilter.className = 'jp-mod-styled flowat-filter-status';
    this.statusFilter.append(option('', 'any status'));
    for (const status of RUN_STATUSES) {
      this.statusFilter.append(option(status, status));
    }
    this.workflowFilter.append(option('', 'all workflows'));
    this.workflowFilter.onchange = () => void this.refresh();
    this.statusFilter.onchange = () => void this.refresh();
    const filters = document.createElement('div');
    filters.className = 'flowat-Panel-filters';
    filters.append(this.workflowFilter, this.statusFilter);
    const refresh = document.createElement('button');
    refresh.className = 'jp-mod-styled flowat-refresh';
    refresh.textContent = 'Refresh';
    refresh.onclick = () => void this.refresh();
    this.node.append(
      heading('Workflows', refresh),
      this.workflowList,
      heading('Recent runs'),
      filters,
      this.runList,
      this.message,
      ...sections.map(section => section.node)
    );
  }

  /** Show only `workflow`'s runs (a link the magics print asks for this). */
  showWorkflow(workflow: string): void {
    if (!Array.from(this.workflowFilter.options).some(o => o.value === workflow)) {
      this.workflowFilter.append(option(workflow, workflow));
    }
    this.workflowFilter.value = workflow;
    void this.refresh();
  }

  /** The section named `name` (schedules, webhooks, secrets, dead-letters). */
  section(name: string): Section | undefined {
    return this.sections.find(s => s.name === name);
  }

  /** Read workflows and runs now, draw them, and poll again while the panel is visible. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    if (this.isDisposed || this.busy) {
      return;
    }
    this.busy = true;
    try {
      const [workflows, runs] = await Promise.all([
        this.api.workflows(),
        this.api.runs({
          workflow: this.workflowFilter.value,
          status: this.statusFilter.value,
          limit: 50
        })
      ]);
      this.workflows = workflows;
      this.runs = runs;
      this.message.textContent = '';
      this.draw();
      await Promise.all(this.sections.filter(s => s.live).map(section => section.refresh()));
    } catch (error) {
      this.message.textContent = `FlowAt's API did not answer: ${(error as Error).message}`;
    } finally {
      this.busy = false;
    }
    if (this.isVisible) {
      this.timer = window.setTimeout(() => void this.refresh(), this.pollMs);
    }
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  protected onBeforeHide(): void {
    window.clearTimeout(this.timer);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    super.dispose();
  }

  private draw(): void {
    const chosen = this.workflowFilter.value;
    this.workflowFilter.replaceChildren(option('', 'all workflows'));
    for (const workflow of this.workflows) {
      this.workflowFilter.append(option(workflow.name, workflow.name));
    }
    if (chosen && !this.workflows.some(w => w.name === chosen)) {
      this.workflowFilter.append(option(chosen, chosen));
    }
    this.workflowFilter.value = chosen;

    this.workflowList.replaceChildren();
    if (!this.workflows.length) {
      this.workflowList.append(item('flowat-empty', 'No workflows yet: publish one.'));
    }
    for (const workflow of this.workflows) {
      const row = item('flowat-workflow', '');
      row.dataset.workflow = workflow.name;
      const name = document.createElement('span');
      name.className = 'flowat-workflow-name';
      name.textContent = workflow.name;
      const version = document.createElement('span');
      version.className = 'flowat-version';
      version.textContent = `v${workflow.latest_version}`;
      const run = document.createElement('button');
      run.className = 'jp-mod-styled jp-mod-accept flowat-run-button';
      run.textContent = 'Run…';
      run.title = `Run ${workflow.name} (choose parameters)`;
      run.onclick = () => void this.actions.runWorkflow(workflow.name).then(() => this.refresh());
      row.append(name, version, run);
      this.workflowList.append(row);
    }

    this.runList.replaceChildren();
    if (!this.runs.length) {
      this.runList.append(item('flowat-empty', 'No runs match.'));
    }
    for (const run of this.runs) {
      const row = item('flowat-run', '');
      row.dataset.runId = run.run_id;
      row.dataset.status = run.status;
      row.title = `Open run ${run.run_id}`;
      const status = document.createElement('span');
      status.className = 'flowat-status';
      status.dataset.status = run.status;
      status.style.backgroundColor = stateColour(run.status);
      status.textContent = run.status;
      const what = document.createElement('span');
      what.className = 'flowat-run-what';
      what.textContent = `${run.workflow} v${run.version}`;
      const facts = document.createElement('span');
      facts.className = 'flowat-run-facts';
      facts.textContent = [
        formatDuration(runSeconds(run)),
        run.trigger,
        formatTime(run.created_at)
      ].join(' · ');
      row.append(status, what, facts);
      if (!FINISHED.has(run.status)) {
        const cancel = document.createElement('button');
        cancel.className = 'jp-mod-styled jp-mod-warn flowat-cancel';
        cancel.textContent = 'Cancel';
        cancel.onclick = event => {
          event.stopPropagation();
          void this.actions.cancelRun(run.run_id).then(() => this.refresh());
        };
        row.append(cancel);
      }
      const rerunRun = this.actions.rerunRun;
      if (rerunRun && runActions(run.status).rerun) {
        const rerun = document.createElement('button');
        rerun.className = 'jp-mod-styled flowat-small flowat-rerun';
        rerun.textContent = 'Re-run';
        rerun.title = `Run ${run.workflow} again with this run's parameters`;
        rerun.onclick = event => {
          event.stopPropagation();
          void rerunRun(run.run_id).then(() => this.refresh());
        };
        row.append(rerun);
      }
      row.onclick = () => this.actions.showRun(run.run_id);
      this.runList.append(row);
    }
  }
}

function option(value: string, label: string): HTMLOptionElement {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = label;
  return element;
}

function item(className: string, text: string): HTMLLIElement {
  const element = document.createElement('li');
  element.className = className;
  element.textContent = text;
  return element;
}

function heading(text: string, extra?: HTMLElement): HTMLElement {
  const element = document.createElement('div');
  element.className = 'flowat-Panel-heading';
  const title = document.createElement('h3');
  title.textContent = text;
  element.append(title);
  if (extra) {
    element.append(extra);
  }
  return element;
}
