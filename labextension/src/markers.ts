/**
 * Step-cell markers: a notebook cell whose first line is `%%flowat step NAME` gets the
 * class `flowat-step-cell` and a small badge with the step's name and kind. The badges
 * follow edits (a cell that stops being a step loses its badge).
 */

import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { parseStepHeader } from './model';

const BADGE = 'flowat-step-badge';

/** Add, update or remove the badge of one cell. */
export function markCell(cell: Cell): void {
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
  badge.title = `FlowAt step ${header.name} (${header.kind})`;
}

function watch(panel: NotebookPanel): void {
  const notebook = panel.content;
  let pending = 0;
  const markAll = () => {
    window.clearTimeout(pending);
    pending = window.setTimeout(() => {
      if (!notebook.isDisposed) {
        notebook.widgets.forEach(markCell);
      }
    }, 150);
  };
  notebook.modelContentChanged.connect(markAll);
  notebook.cellInViewportChanged.connect((_, cell) => markCell(cell));
  void panel.context.ready.then(markAll);
  panel.disposed.connect(() => window.clearTimeout(pending));
}

/** Mark step cells in every notebook the tracker knows, now and as they open. */
export function activateMarkers(tracker: INotebookTracker): void {
  tracker.forEach(watch);
  tracker.widgetAdded.connect((_, panel) => watch(panel));
}
