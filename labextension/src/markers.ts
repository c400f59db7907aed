/**
 * Step-cell markers: a notebook cell whose first line is `%%flowat step NAME` gets the
 * class `flowat-step-cell` and a small badge with the step's name and kind. The badges
 * follow edits (a cell that stops being a step loses its badge). When the notebook has a
 * `%flowat publish NAME` line, each badge is coloured by its step's state in that
 * workflow's latest run, read from the REST API every few seconds while the notebook is
 * visible (never from the kernel). A second after an edit, the notebook's cells are
 * compiled by the server (POST /api/v1/compile, nothing stored) and each cell with a
 * problem shows it under its prompt, before anything is published.
 */

import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { FlowAtApi } from './api';
import { parseStepHeader, publishedWorkflow, stateColour } from './model';
import { ICompileProblem, hasStepCell, problemText, problemsByCell } from './resources';

const BADGE = 'flowat-step-badge';
const PROBLEM = 'flowat-step-problem';

/** How long after the last edit the cells are compiled, in milliseconds. */
export const CHECK_DELAY_MS = 1000;

/** How often a visible notebook's badges read the latest run, in milliseconds. */
export const MARKER_POLL_MS = 4000;

/** The latest run's state of each step (empty when there is no run). */
type StepStates = Map<string, string>;

/** Show (or clear) the compile problems of one cell. */
export function markProblems(cell: Cell, problems: ICompileProblem[] = []): void {
  let box = cell.node.querySelector<HTMLElement>(`:scope > .${PROBLEM}`);
  if (!problems.length) {
    cell.removeClass('flowat-step-cell-problem');
    box?.remove();
    return;
  }
  cell.addClass('flowat-step-cell-problem');
  if (!box) {
    box = document.createElement('div');
    box.className = PROBLEM;
    cell.node.append(box);
  }
  const text = problems.map(problemText).join('\n');
  if (box.textContent !== text) {
    box.textContent = text;
  }
  box.dataset.codes = problems.map(p => p.code).join(' ');
  box.title = 'FlowAt: this cell does not compile; publishing would refuse it';
}

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
  let check = 0;
  let states: StepStates = new Map();
  let problems = new Map<number, ICompileProblem[]>();
  const markAll = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(() => {
      if (!notebook.isDisposed) {
        notebook.widgets.forEach((cell, index) => {
          markCell(cell, states);
          markProblems(cell, problems.get(index + 1));
        });
      }
    }, 150);
  };
  const checkCells = async () => {
    if (panel.isDisposed) {
      return;
    }
    const cells = notebook.widgets.map(cell => ({
      source: cell.model.sharedModel.getSource(),
      cell_type: cell.model.type,
      tags: ((cell.model.getMetadata('tags') as string[] | undefined) ?? []).filter(
        t => typeof t === 'string'
      )
    }));
    const codeSources = cells.filter(c => c.cell_type === 'code').map(c => c.source);
    let next = new Map<number, ICompileProblem[]>();
    if (hasStepCell(codeSources)) {
      try {
        next = problemsByCell(
          await api.compile(cells, publishedWorkflow(codeSources) ?? undefined)
        );
      } catch {
        next = problems; // the API did not answer: keep what the cells show
      }
    }
    problems = next;
    panel.node.dataset.flowatChecked = String(Date.now());
    markAll();
  };
  const scheduleCheck = () => {
    window.clearTimeout(check);
    check = window.setTimeout(() => void checkCells(), CHECK_DELAY_MS);
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
  notebook.modelContentChanged.connect(scheduleCheck);
  notebook.cellInViewportChanged.connect((_, cell) => {
    markCell(cell, states);
    markProblems(cell, problems.get(notebook.widgets.indexOf(cell) + 1));
  });
  void panel.context.ready.then(() => {
    markAll();
    void readStates();
    scheduleCheck();
  });
  panel.disposed.connect(() => {
    window.clearTimeout(pending);
    window.clearTimeout(poll);
    window.clearTimeout(check);
  });
}

/** Mark step cells in every notebook the tracker knows, now and as they open. */
export function activateMarkers(tracker: INotebookTracker, api: FlowAtApi): void {
  tracker.forEach(panel => watch(panel, api));
  tracker.widgetAdded.connect((_, panel) => watch(panel, api));
}
