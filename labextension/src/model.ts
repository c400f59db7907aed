/**
 * FlowAt's front-end logic with no JupyterLab or DOM dependency: the shapes the REST API
 * answers with, step headers in cell text, state colours, the parameter form and the
 * graph elements of a run. Everything here is unit-tested (labextension/test/).
 */

/** A run's status as the REST API reports it. */
export type RunStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'timed_out';

/** The statuses a run can have, in the order the panel's filter lists them. */
export const RUN_STATUSES: RunStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out'
];

/** Statuses after which a run never changes again. */
export const FINISHED: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'timed_out'
]);

/** One item of GET /api/v1/workflows. */
export interface IWorkflowItem {
  name: string;
  latest_version: number;
}

/** One item of GET /api/v1/runs. */
export interface IRunItem {
  run_id: string;
  workflow: string;
  version: number;
  status: string;
  trigger: string;
  created_at: string;
  ended_at: string | null;
}

/** A typed parameter of a workflow (the spec's `inputs`). */
export interface IInputSpec {
  name: string;
  type: string;
  default?: unknown;
}

/** The parts of a step spec the front end draws. */
export interface IStepSpec {
  name: string;
  kind?: string;
}

/** The parts of a workflow spec the front end draws. */
export interface IWorkflowSpec {
  name: string;
  inputs?: IInputSpec[];
  steps: IStepSpec[];
  edges?: { source: string; target: string; names?: string[] }[];
}

/** One step of GET /api/v1/runs/{id}/steps. */
export interface IStepState {
  name: string;
  status: string;
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
  error: { type?: string; message?: string; [key: string]: unknown } | null;
}

/** The fill colour of each step or run state (the notebook's live graph uses the same). */
export const STATE_COLOURS: Record<string, string> = {
  pending: '#9e9e9e',
  queued: '#9e9e9e',
  running: '#1e88e5',
  retrying: '#fb8c00',
  succeeded: '#43a047',
  failed: '#e53935',
  timed_out: '#e53935',
  skipped: '#e0e0e0',
  cancelled: '#6d4c41'
};

/** The colour for `state`; an unknown state is drawn like a pending one. */
export function stateColour(state: string | null | undefined): string {
  const key = state ?? '';
  return Object.prototype.hasOwnProperty.call(STATE_COLOURS, key)
    ? STATE_COLOURS[key]
    : STATE_COLOURS.pending;
}

/** What the first line of a `%%flowat step` cell says. */
export interface IStepHeader {
  name: string;
  kind: string;
}

const KIND_OPTIONS: [string, string][] = [
  ['--workflow', 'workflow'],
  ['--action', 'action'],
  ['--if', 'if'],
  ['--switch', 'switch'],
  ['--set', 'set'],
  ['--filter', 'filter'],
  ['--wait-for', 'wait'],
  ['--wait', 'wait']
];

/**
 * The step a cell declares: its first line must be `%%flowat step NAME [options]`.
 * Returns null for any other cell (a `%%flowat` line with another subcommand, a line
 * magic, text before the magic, a missing or malformed name).
 */
export function parseStepHeader(source: string): IStepHeader | null {
  const first = source.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0];
  const words = first.trim().split(/\s+/);
  if (words[0] !== '%%flowat' || words[1] !== 'step' || words.length < 3) {
    return null;
  }
  const name = words[2];
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/.test(name)) {
    return null;
  }
  let kind = 'code';
  for (const word of words.slice(3)) {
    const option = word.split('=', 1)[0];
    const found = KIND_OPTIONS.find(([flag]) => flag === option);
    if (found) {
      kind = found[1];
      break;
    }
  }
  return { name, kind };
}

/** A run's or step's duration as a short text (`850 ms`, `12.3 s`, `4 min 05 s`). */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  const rest = Math.floor(seconds - minutes * 60);
  if (minutes < 60) {
    return `${minutes} min ${String(rest).padStart(2, '0')} s`;
  }
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** A run's duration in seconds: to its end, or to `now` while it runs. */
export function runSeconds(run: IRunItem, now: number = Date.now()): number | null {
  const start = Date.parse(asUtc(run.created_at));
  if (Number.isNaN(start)) {
    return null;
  }
  const end = run.ended_at ? Date.parse(asUtc(run.ended_at)) : now;
  return Number.isNaN(end) ? null : Math.max(0, (end - start) / 1000);
}

/** An ISO timestamp without an offset is UTC (the store keeps UTC). */
export function asUtc(stamp: string): string {
  return /([zZ]|[+-]\d\d:?\d\d)$/.test(stamp) ? stamp : `${stamp}Z`;
}

/** A timestamp as local `YYYY-MM-DD HH:MM:SS`, without microseconds. */
export function formatTime(stamp: string | null | undefined): string {
  if (!stamp) {
    return '';
  }
  const when = new Date(asUtc(stamp));
  if (Number.isNaN(when.getTime())) {
    return stamp;
  }
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${when.getFullYear()}-${two(when.getMonth() + 1)}-${two(when.getDate())} ` +
    `${two(when.getHours())}:${two(when.getMinutes())}:${two(when.getSeconds())}`
  );
}

/** One field of the run form. */
export interface IFormField {
  name: string;
  type: string;
  /** `checkbox` for bool, `number` for int and float, `json` for list and dict, else `text`. */
  control: 'checkbox' | 'number' | 'json' | 'text';
  /** The default as the control shows it. */
  initial: string | boolean;
  /** What the field says when left as it is. */
  hint: string;
}

/** The run form's fields, one per typed parameter of the spec, in spec order. */
export function formModel(inputs: IInputSpec[] | undefined): IFormField[] {
  return (inputs ?? []).map(input => {
    const type = input.type || 'any';
    const value = input.default;
    const shown = value === undefined || value === null ? '' : JSON.stringify(value);
    if (type === 'bool') {
      return { name: input.name, type, control: 'checkbox', initial: value === true, hint: type };
    }
    if (type === 'int' || type === 'float') {
      return { name: input.name, type, control: 'number', initial: shown, hint: type };
    }
    if (type === 'list' || type === 'dict') {
      return { name: input.name, type, control: 'json', initial: shown, hint: `${type} (JSON)` };
    }
    const initial = type === 'str' && typeof value === 'string' ? value : shown;
    return { name: input.name, type, control: 'text', initial, hint: type };
  });
}

/** The parameters a filled-in form gives, or the first problem found. */
export type FormResult =
  | { ok: true; parameters: Record<string, unknown> }
  | { ok: false; field: string; message: string };

/**
 * Typed parameters from the form's raw values (text, or a boolean for a checkbox).
 * An empty non-text field is left out, so the workflow's default applies.
 */
export function formParameters(
  fields: IFormField[],
  raw: Record<string, string | boolean>
): FormResult {
  const parameters: Record<string, unknown> = {};
  for (const field of fields) {
    const value = raw[field.name];
    if (field.control === 'checkbox') {
      parameters[field.name] = value === true;
      continue;
    }
    const text = typeof value === 'string' ? value : '';
    if (field.type === 'str') {
      parameters[field.name] = text;
      continue;
    }
    if (text.trim() === '') {
      continue;
    }
    if (field.type === 'int') {
      if (!/^[+-]?\d+$/.test(text.trim())) {
        return { ok: false, field: field.name, message: `${field.name}: a whole number` };
      }
      parameters[field.name] = Number.parseInt(text.trim(), 10);
      continue;
    }
    if (field.type === 'float') {
      const number = Number(text.trim());
      if (!Number.isFinite(number)) {
        return { ok: false, field: field.name, message: `${field.name}: a number such as 2.5` };
      }
      parameters[field.name] = number;
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      if (field.type === 'any') {
        parameters[field.name] = text;
        continue;
      }
      return { ok: false, field: field.name, message: `${field.name}: JSON ${field.type}` };
    }
    if (field.type === 'list' && !Array.isArray(parsed)) {
      return { ok: false, field: field.name, message: `${field.name}: a JSON list` };
    }
    if (
      field.type === 'dict' &&
      (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    ) {
      return { ok: false, field: field.name, message: `${field.name}: a JSON object` };
    }
    parameters[field.name] = parsed;
  }
  return { ok: true, parameters };
}

/** A cytoscape element: a step node or a dependency edge. */
export interface IGraphElement {
  group: 'nodes' | 'edges';
  data: Record<string, string>;
}

/** A failed step's error as one short line (`KeyError: 'x'`). */
export function errorText(error: IStepState['error']): string {
  if (!error) {
    return '';
  }
  const kind = typeof error.type === 'string' ? error.type : '';
  const message = typeof error.message === 'string' ? error.message : '';
  const text = kind && message ? `${kind}: ${message}` : kind || message;
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * The run graph's elements: one node per step of the spec (in spec order), coloured by
 * that step's state in `steps` (pending when the run has not reached it), with a failed
 * step's error in its label; one edge per spec edge between known steps.
 */
export function graphElements(spec: IWorkflowSpec, steps: IStepState[]): IGraphElement[] {
  const states = new Map(steps.map(s => [s.name, s]));
  const known = new Set(spec.steps.map(s => s.name));
  const nodes: IGraphElement[] = spec.steps.map(step => {
    const state = states.get(step.name);
    const status = state?.status ?? 'pending';
    const error = status === 'failed' ? errorText(state?.error ?? null) : '';
    return {
      group: 'nodes',
      data: {
        id: step.name,
        label: error ? `${step.name}\n${error}` : step.name,
        kind: step.kind ?? 'code',
        status,
        colour: stateColour(status),
        error
      }
    };
  });
  const seen = new Set<string>();
  const edges: IGraphElement[] = [];
  for (const edge of spec.edges ?? []) {
    const id = `${edge.source}->${edge.target}`;
    if (!known.has(edge.source) || !known.has(edge.target) || seen.has(id)) {
      continue;
    }
    seen.add(id);
    edges.push({ group: 'edges', data: { id, source: edge.source, target: edge.target } });
  }
  return [...nodes, ...edges];
}

/** The runs the panel shows for its filters (empty filter: all). */
export function filterRuns(runs: IRunItem[], workflow: string, status: string): IRunItem[] {
  return runs.filter(
    run => (!workflow || run.workflow === workflow) && (!status || run.status === status)
  );
}

const PUBLISH = /^\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*=\s*)?%flowat\s+publish\s+([A-Za-z_][A-Za-z0-9_.-]{0,127})(?:\s|$)/;

/**
 * The workflow a notebook publishes: the name in its last `%flowat publish NAME` line
 * (also `published = %flowat publish NAME ...`), or null when it has none.
 */
export function publishedWorkflow(sources: string[]): string | null {
  let found: string | null = null;
  for (const source of sources) {
    for (const line of source.split(/\r?\n/)) {
      const match = PUBLISH.exec(line);
      if (match) {
        found = match[1];
      }
    }
  }
  return found;
}
