/**
 * Step-cell markers: a notebook cell whose first line is `%%flowat step NAME` gets the
 * class `flowat-step-cell` and a small badge with the step's name and kind. The badges
 * follow edits (a cell that stops being a step loses its badge). When the notebook has a
 * `%flowat publish NAME` line, each badge is coloured by its step's state in that
 * workflow's latest run, read from the REST API every few seconds while the notebook is
 * visible (never from the kernel).
 */

import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { FlowAtApi } from './api';
import { parseStepHeader, publishedWorkflow, stateColour } from './model';

const BADGE = 'flowat-step-badge';

/** How often a visible notebook's badges read the latest run, in milliseconds. */
export const MARKER_POLL_MS = 4000;

/** The latest run's state of each step (empty when there is no run). */
type StepStates = Map<string, string>;

/** Add, update or remove the badge of one cell. */
export function markCell(cell: Cell, states: StepStates = new Map()): void {
  const header =
    cell.model.type === 'code' ? parseStepHeader(cell.model.sharedModel.getSource()) : null;
  let badge = cell.node.querySelector<HTMLElement>(`:scope > .${BADGE}`);
  if (!header) {
    cell.removeClass('flowat-step-cell');
    badge?.remove();
    return;
  }
  cell.addClass('flowat-step-cell');
  if (!badge) {
    badge = document.createElement('div');
    badge.className = BADGE;
    cell.node.append(badge);
  }
  const text = header.kind === 'code' ? header.name : `${header.name} · ${header.kind}`;
  if (badge.textContent !== `step ${text}`) {
    badge.textContent = `step ${text}`;
  }
  badge.dataset.step = header.name;
  badge.dataset.kind = header.kind;
  const status = states.get(header.name);
  let title = `FlowAt step ${header.name} (${header.kind})`;
  if (status) {
    badge.dataset.status = status;
    badge.style.backgroundColor = stateColour(status);
    title += `: ${status} in the latest run`;
  } else {
    delete badge.dataset.status;
    badge.style.backgroundColor = '';
  }
  badge.title = title;
}

function watch(panel: NotebookPanel, api: FlowAtApi): void {
  const notebook = panel.content;
  let pending = 0;
  let poll = 0;
  let states: StepStates = new Map();
  const markAll = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(() => {
      if (!notebook.isDisposed) {
        notebook.widgets.forEach(cell => markCell(cell, states));
      }
    }, 150);
  };
  const readStates = async () => {
    window.clearTimeout(poll);
    if (panel.isDisposed) {
      return;
    }
    if (panel.isVisible) {
      const sources = notebook.widgets
        .filter(cell => cell.model.type === 'code')
        .map(cell => cell.model.sharedModel.getSource());
      const workflow = publishedWorkflow(sources);
      let next: StepStates = new Map();
      if (workflow) {
        try {
          const [latest] = await api.runs({ workflow, limit: 1 });
          if (latest) {
            next = new Map((await api.steps(latest.run_id)).map(s => [s.name, s.status]));
          }
        } catch {
          next = states; // the API did not answer: keep what the badges show
        }
      }
      const changed =
        next.size !== states.size || [...next].some(([name, s]) => states.get(name) !== s);
      states = next;
      if (changed) {
        markAll();
      }
    }
    poll = window.setTimeout(() => void readStates(), MARKER_POLL_MS);
  };
  notebook.modelContentChanged.connect(markAll);
  notebook.cellInViewportChanged.connect((_, cell) => markCell(cell, states));
  void panel.context.ready.then(() => {
    markAll();
    void readStates();
  });
  panel.disposed.connect(() => {
    window.clearTimeout(pending);
    window.clearTimeout(poll);
  });
}

/** Mark step cells in every notebook the tracker knows, now and as they open. */
export function activateMarkers(tracker: INotebookTracker, api: FlowAtApi): void {
  tracker.forEach(panel => watch(panel, api));
  tracker.widgetAdded.connect((_, panel) => watch(panel, api));
}
