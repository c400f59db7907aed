/**
 * The run view: one run's workflow graph, drawn in the page from the version's spec and
 * the run's step states, with each step's error, outputs and logs in a side list. It
 * reads everything from the REST API, so it needs no kernel and survives reloads. Its
 * header has the run's actions: cancel, re-run, resume from the failed step (when the
 * server has those endpoints), open the report notebook, and the run's page in
 * Temporal's Web UI.
 */

import { Widget } from '@lumino/widgets';
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';

import { FlowAtApi, IRunDocument, IStepLogs, ITemporalLink, IVersionDocument } from './api';
import { runActions } from './resources';
import {
  FINISHED,
  errorText,
  formatDuration,
  formatTime,
  graphElements,
  runSeconds,
  stateColour
} from './model';

cytoscape.use(dagre);

/** How often an unfinished run is read again, in milliseconds. */
export const RUN_POLL_MS = 1500;
/** Small graphs are not blown up past this zoom when fitted to the view. */
const MAX_FIT_ZOOM = 1.25;

const STYLE: any[] = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      'background-color': 'data(colour)',
      label: 'data(label)',
      color: '#fff',
      'font-size': 13,
      'text-wrap': 'wrap',
      'text-max-width': '200px',
      'text-valign': 'center',
      'text-halign': 'center',
      width: 'label',
      height: 'label',
      padding: '10px',
      'border-width': 0
    }
  },
  {
    selector: 'node[status = "pending"], node[status = "skipped"]',
    style: { color: '#212121' }
  },
  { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#ffca28' } },
  {
    selector: 'edge',
    style: {
      width: 2,
      'line-color': '#90a4ae',
      'target-arrow-color': '#90a4ae',
      'target-arrow-shape': 'triangle',
      'curve-style': 'bezier'
    }
  }
];

/** What the run view asks its host to do. */
export interface IRunViewActions {
  cancel(runId: string): Promise<void>;
  /** Absent when the server has no re-run endpoint. */
  rerun?(runId: string): Promise<void>;
  /** Absent when the server has no resume endpoint. */
  resume?(runId: string): Promise<void>;
  openReport(run: IRunDocument): Promise<void>;
}

/** A main-area widget showing one run, updated live until it ends. */
export class RunView extends Widget {
  private header = document.createElement('div');
  private graphBox = document.createElement('div');
  private side = document.createElement('div');
  private cy: cytoscape.Core | null = null;
  private version: IVersionDocument | null = null;
  private timer = 0;
  private shape = '';
  private selected = '';
  private run: IRunDocument | null = null;
  private logs: IStepLogs[] = [];
  private temporal: ITemporalLink | null = null;

  constructor(
    readonly api: FlowAtApi,
    readonly runId: string,
    private actions: IRunViewActions
  ) {
    super();
    this.id = `flowat-run-${runId}`;
    this.addClass('flowat-RunView');
    this.node.dataset.runId = runId;
    this.title.label = `Run ${runId.slice(0, 12)}`;
    this.title.caption = `FlowAt run ${runId}`;
    this.title.closable = true;
    this.header.className = 'flowat-RunView-header';
    this.graphBox.className = 'flowat-RunView-graph';
    this.side.className = 'flowat-RunView-side';
    const body = document.createElement('div');
    body.className = 'flowat-RunView-body';
    body.append(this.graphBox, this.side);
    this.node.append(this.header, body);
    void this.refresh();
  }

  /** The run as last read (null before the first answer). */
  get current(): IRunDocument | null {
    return this.run;
  }

  /** Read the run (and its spec once) and redraw; polls again while it has not ended. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    if (this.isDisposed) {
      return;
    }
    try {
      const run = await this.api.run(this.runId);
      if (!this.version) {
        this.version = await this.api.version(run.workflow, run.version);
      }
      this.logs = await this.api.logs(this.runId).catch(() => this.logs);
      if (!this.temporal?.url) {
        this.temporal = await this.api.temporalLink(this.runId).catch(() => this.temporal);
      }
      this.run = run;
      this.title.label = `${run.workflow} ${run.run_id.slice(0, 12)}`;
      this.render();
      if (!FINISHED.has(run.status)) {
        this.timer = window.setTimeout(() => void this.refresh(), RUN_POLL_MS);
      }
    } catch (error) {
      this.header.textContent = `Cannot read run ${this.runId}: ${(error as Error).message}`;
      this.node.dataset.status = 'error';
      const status = (error as { status?: number }).status;
      if (status !== 404 && status !== 403) {
        // the API or the network may be back soon; a missing run never appears
        this.timer = window.setTimeout(() => void this.refresh(), RUN_POLL_MS * 4);
      }
    }
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.cy?.destroy();
    this.cy = null;
    super.dispose();
  }

  protected onResize(): void {
    this.fitGraph();
  }

  protected onAfterShow(): void {
    this.fitGraph();
  }

  private fitGraph(): void {
    if (this.cy) {
      this.cy.resize();
      this.cy.fit(undefined, 24);
      if (this.cy.zoom() > MAX_FIT_ZOOM) {
        this.cy.zoom(MAX_FIT_ZOOM);
        this.cy.center();
      }
    }
  }

  private render(): void {
    const run = this.run;
    const version = this.version;
    if (!run || !version) {
      return;
    }
    this.node.dataset.status = run.status;
    this.renderHeader(run);
    const elements = graphElements(version.spec, run.steps);
    this.node.dataset.graph = JSON.stringify(
      elements.filter(e => e.group === 'nodes').map(e => ({ id: e.data.id, status: e.data.status }))
    );
    const shape = JSON.stringify(elements.map(e => e.data.id));
    if (!this.cy || shape !== this.shape) {
      this.cy?.destroy();
      this.shape = shape;
      this.cy = cytoscape({
        container: this.graphBox,
        elements: elements as any,
        style: STYLE,
        layout: { name: 'dagre', rankDir: 'LR', nodeSep: 30, rankSep: 60 } as any,
        wheelSensitivity: 0.3
      });
      this.cy.on('tap', 'node', event => {
        this.selected = event.target.id();
        this.renderSide();
      });
      window.requestAnimationFrame(() => this.fitGraph());
    } else {
      for (const element of elements) {
        if (element.group === 'nodes') {
          this.cy.getElementById(element.data.id).data(element.data);
        }
      }
    }
    this.renderSide();
  }

  private renderHeader(run: IRunDocument): void {
    const header = this.header;
    header.replaceChildren();
    const title = document.createElement('span');
    title.className = 'flowat-RunView-title';
    title.textContent = `${run.workflow} v${run.version}`;
    const status = document.createElement('span');
    status.className = 'flowat-status';
    status.dataset.status = run.status;
    status.style.backgroundColor = stateColour(run.status);
    status.textContent = run.status;
    const facts = document.createElement('span');
    facts.className = 'flowat-RunView-facts';
    facts.textContent = [
      `run ${run.run_id}`,
      `trigger ${run.trigger}`,
      `started ${formatTime(run.created_at)}`,
      formatDuration(runSeconds({ ...run, ended_at: run.ended_at } as any))
    ].join(' · ');
    header.append(title, status, facts);
    const actions = document.createElement('span');
    actions.className = 'flowat-RunView-actions';
    const { rerun, resume, cancel, openReport } = this.actions;
    if (!FINISHED.has(run.status)) {
      actions.append(
        button('Cancel', 'jp-mod-warn flowat-cancel', 'Cancel this run', () =>
          cancel(run.run_id).then(() => this.refresh())
        )
      );
    }
    const can = runActions(run.status);
    if (rerun && can.rerun) {
      actions.append(
        button('Re-run', 'flowat-rerun', "Run it again with this run's parameters", () =>
          rerun(run.run_id)
        )
      );
    }
    if (resume && can.resume) {
      actions.append(
        button('Resume', 'flowat-resume', 'Run again from the failed step, reusing the steps before it', () =>
          resume(run.run_id)
        )
      );
    }
    actions.append(
      button('Report', 'flowat-report', "Open this run's report notebook", () => openReport(run))
    );
    const link = document.createElement('a');
    link.className = 'flowat-temporal-link';
    link.textContent = 'Temporal UI';
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    if (this.temporal?.url) {
      link.href = this.temporal.url;
      link.title = `Open workflow ${this.temporal.workflow_id} in Temporal's Web UI`;
    } else {
      link.setAttribute('aria-disabled', 'true');
      link.title = this.temporal?.reason ?? "Temporal's Web UI address is not known";
    }
    actions.append(link);
    header.append(actions);
    if (run.error?.message) {
      const error = document.createElement('div');
      error.className = 'flowat-RunView-error';
      error.textContent = run.error.message;
      header.append(error);
    }
  }

  private renderSide(): void {
    const run = this.run;
    if (!run) {
      return;
    }
    this.side.replaceChildren();
    const logs = new Map(this.logs.map(l => [l.name, l.logs]));
    for (const step of run.steps) {
      const item = document.createElement('details');
      item.className = 'flowat-step-item';
      item.dataset.step = step.name;
      item.dataset.status = step.status;
      item.open = step.name === this.selected || step.status === 'failed';
      const summary = document.createElement('summary');
      const dot = document.createElement('span');
      dot.className = 'flowat-dot';
      dot.style.backgroundColor = stateColour(step.status);
      summary.append(dot, `${step.name} · ${step.status}`);
      const timing = formatDuration(step.duration_seconds);
      if (timing || step.attempts > 1) {
        summary.append(` · ${timing}${step.attempts > 1 ? ` · ${step.attempts} attempts` : ''}`);
      }
      item.append(summary);
      const error = errorText(step.error);
      if (error) {
        item.append(block('flowat-step-error', error));
      }
      const outputs = run.outputs?.[step.name];
      if (outputs && Object.keys(outputs).length) {
        item.append(block('flowat-step-outputs', JSON.stringify(outputs, null, 1)));
      }
      const text = logs.get(step.name);
      if (text) {
        item.append(block('flowat-step-logs', text));
      }
      item.addEventListener('toggle', () => {
        if (item.open) {
          this.selected = step.name;
          this.cy?.elements().unselect();
          this.cy?.getElementById(step.name).select();
        }
      });
      this.side.append(item);
    }
  }
}

function button(
  text: string,
  className: string,
  title: string,
  onclick: () => Promise<unknown>
): HTMLButtonElement {
  const element = document.createElement('button');
  element.className = `jp-mod-styled flowat-small ${className}`;
  element.textContent = text;
  element.title = title;
  element.onclick = () => {
    element.disabled = true;
    void onclick().finally(() => {
      element.disabled = false;
    });
  };
  return element;
}

function block(className: string, text: string): HTMLElement {
  const pre = document.createElement('pre');
  pre.className = className;
  pre.textContent = text;
  return pre;
}
