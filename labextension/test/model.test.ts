import { describe, expect, it } from 'vitest';

import {
  errorText,
  filterRuns,
  formatDuration,
  formatTime,
  formModel,
  formParameters,
  graphElements,
  IRunItem,
  parseStepHeader,
  publishedWorkflow,
  runSeconds,
  stateColour,
  STATE_COLOURS
} from '../src/model';

describe('parseStepHeader', () => {
  it('reads the name of a step cell', () => {
    expect(parseStepHeader('%%flowat step load\nx = 1')).toEqual({ name: 'load', kind: 'code' });
    expect(parseStepHeader('%%flowat  step   load.v2-x --retries 3')).toEqual({
      name: 'load.v2-x',
      kind: 'code'
    });
  });

  it('reads the kind from the options', () => {
    expect(parseStepHeader('%%flowat step sub --workflow other')?.kind).toBe('workflow');
    expect(parseStepHeader('%%flowat step ask --action http.get')?.kind).toBe('action');
    expect(parseStepHeader('%%flowat step big --if\nx > 1')?.kind).toBe('if');
    expect(parseStepHeader('%%flowat step hold --wait-for approve')?.kind).toBe('wait');
    expect(parseStepHeader('%%flowat step hold --wait=5m')?.kind).toBe('wait');
    expect(parseStepHeader('%%flowat step r --retries 2 --set')?.kind).toBe('set');
  });

  it('accepts Windows line ends and a byte-order mark', () => {
    expect(parseStepHeader('\uFEFF%%flowat step a\r\nx = 1')?.name).toBe('a');
  });

  it('refuses everything that is not a step header on the first line', () => {
    for (const text of [
      '',
      'x = 1',
      '%%flowat step',
      '%%flowat publish wf',
      '%flowat step a',
      '%%flowat steps a',
      '# note\n%%flowat step a',
      ' x\n%%flowat step a',
      '%%flowat step 1abc',
      '%%flowat step a/b',
      `%%flowat step ${'a'.repeat(129)}`
    ]) {
      expect(parseStepHeader(text), text).toBeNull();
    }
  });

  it('allows leading spaces before the magic and names up to 128 characters', () => {
    expect(parseStepHeader('  %%flowat step a')?.name).toBe('a');
    expect(parseStepHeader(`%%flowat step ${'a'.repeat(128)}`)?.name).toHaveLength(128);
  });
});

describe('stateColour', () => {
  it('gives each state its own colour, failed red, succeeded green', () => {
    expect(stateColour('failed')).toBe('#e53935');
    expect(stateColour('succeeded')).toBe('#43a047');
    expect(stateColour('running')).toBe('#1e88e5');
    const steps = ['pending', 'running', 'retrying', 'succeeded', 'failed', 'skipped', 'cancelled'];
    expect(new Set(steps.map(stateColour)).size).toBe(steps.length);
  });

  it('draws unknown or missing states as pending', () => {
    expect(stateColour('exploded')).toBe(STATE_COLOURS.pending);
    expect(stateColour(undefined)).toBe(STATE_COLOURS.pending);
    expect(stateColour(null)).toBe(STATE_COLOURS.pending);
    expect(stateColour('constructor')).toBe(STATE_COLOURS.pending);
  });
});

describe('formModel and formParameters', () => {
  const inputs = [
    { name: 'rows', type: 'int', default: 10 },
    { name: 'rate', type: 'float', default: 0.5 },
    { name: 'label', type: 'str', default: 'hi' },
    { name: 'dry', type: 'bool', default: true },
    { name: 'tags', type: 'list', default: ['a'] },
    { name: 'opts', type: 'dict', default: null },
    { name: 'extra', type: 'any' }
  ];

  it('builds one control per typed parameter with its default', () => {
    const fields = formModel(inputs);
    expect(fields.map(f => [f.name, f.control, f.initial])).toEqual([
      ['rows', 'number', '10'],
      ['rate', 'number', '0.5'],
      ['label', 'text', 'hi'],
      ['dry', 'checkbox', true],
      ['tags', 'json', '["a"]'],
      ['opts', 'json', ''],
      ['extra', 'text', '']
    ]);
    expect(formModel(undefined)).toEqual([]);
  });

  it('types the values and leaves empty fields to their defaults', () => {
    const fields = formModel(inputs);
    const result = formParameters(fields, {
      rows: ' 42 ',
      rate: '1e-3',
      label: '',
      dry: false,
      tags: '[1, 2]',
      opts: '',
      extra: 'plain words'
    });
    expect(result).toEqual({
      ok: true,
      parameters: { rows: 42, rate: 0.001, label: '', dry: false, tags: [1, 2], extra: 'plain words' }
    });
  });

  it('reports the first wrong value by field', () => {
    const fields = formModel(inputs);
    const base = { rows: '1', rate: '1', label: 'x', dry: true, tags: '[]', opts: '{}', extra: '' };
    const wrong: [string, string][] = [
      ['rows', '2.5'],
      ['rows', '1e3'],
      ['rate', 'fast'],
      ['rate', 'Infinity'],
      ['tags', '{"a": 1}'],
      ['tags', '[1,'],
      ['opts', '[1]'],
      ['opts', 'null']
    ];
    for (const [name, value] of wrong) {
      const result = formParameters(fields, { ...base, [name]: value });
      expect(result.ok, `${name}=${value}`).toBe(false);
      if (!result.ok) {
        expect(result.field).toBe(name);
      }
    }
  });
});

describe('graphElements', () => {
  const spec = {
    name: 'wf',
    steps: [{ name: 'a' }, { name: 'b', kind: 'if' }, { name: 'c' }],
    edges: [
      { source: 'a', target: 'b' },
      { source: 'b', target: 'c' },
      { source: 'b', target: 'c', names: ['x'] },
      { source: 'a', target: 'ghost' }
    ]
  };

  it('colours nodes by step state, pending where the run has not reached', () => {
    const elements = graphElements(spec, [
      { name: 'a', status: 'succeeded', attempts: 1 } as any,
      {
        name: 'b',
        status: 'failed',
        attempts: 2,
        error: { type: 'KeyError', message: "'gone'" }
      } as any
    ]);
    const nodes = elements.filter(e => e.group === 'nodes').map(e => e.data);
    expect(nodes.map(n => [n.id, n.status, n.colour])).toEqual([
      ['a', 'succeeded', '#43a047'],
      ['b', 'failed', '#e53935'],
      ['c', 'pending', '#9e9e9e']
    ]);
    expect(nodes[1].label).toBe("b\nKeyError: 'gone'");
    expect(nodes[1].kind).toBe('if');
    expect(nodes[0].label).toBe('a');
  });

  it('keeps one edge per pair and drops edges to unknown steps', () => {
    const edges = graphElements(spec, []).filter(e => e.group === 'edges');
    expect(edges.map(e => e.data.id)).toEqual(['a->b', 'b->c']);
  });

  it('shortens long error texts', () => {
    expect(errorText({ type: 'E', message: 'x'.repeat(500) })).toHaveLength(160);
    expect(errorText(null)).toBe('');
    expect(errorText({ message: 'only' })).toBe('only');
  });
});

describe('times and filters', () => {
  const run = (over: Partial<IRunItem>): IRunItem => ({
    run_id: 'r',
    workflow: 'wf',
    version: 1,
    status: 'succeeded',
    trigger: 'rest',
    created_at: '2024-01-01T00:00:00.000000',
    ended_at: '2024-01-01T00:00:02.500000',
    ...over
  });

  it('formats durations', () => {
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(12.34)).toBe('12.3 s');
    expect(formatDuration(245)).toBe('4 min 05 s');
    expect(formatDuration(7300)).toBe('2 h 01 min');
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(-1)).toBe('');
    expect(formatDuration(Number.NaN)).toBe('');
  });

  it('measures runs from their timestamps (UTC without an offset)', () => {
    expect(runSeconds(run({}))).toBe(2.5);
    const now = Date.parse('2024-01-01T00:01:00Z');
    expect(runSeconds(run({ ended_at: null, status: 'running' }), now)).toBe(60);
    expect(runSeconds(run({ created_at: 'garbage' }))).toBeNull();
    expect(formatTime('2024-01-01T00:00:00+00:00')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(formatTime(null)).toBe('');
  });

  it('filters runs by workflow and status', () => {
    const runs = [
      run({ run_id: '1' }),
      run({ run_id: '2', status: 'failed' }),
      run({ run_id: '3', workflow: 'other' })
    ];
    expect(filterRuns(runs, '', '').map(r => r.run_id)).toEqual(['1', '2', '3']);
    expect(filterRuns(runs, 'wf', '').map(r => r.run_id)).toEqual(['1', '2']);
    expect(filterRuns(runs, 'wf', 'failed').map(r => r.run_id)).toEqual(['2']);
    expect(filterRuns(runs, 'none', '')).toEqual([]);
  });
});

describe('publishedWorkflow', () => {
  it('finds the name of the last publish line', () => {
    expect(publishedWorkflow(['x = 1', '%flowat publish first', '%flowat publish second --x'])).toBe(
      'second'
    );
    expect(publishedWorkflow(['published = %flowat publish quick.start-2'])).toBe('quick.start-2');
    expect(publishedWorkflow(['%load_ext flowat_kernel\n%flowat publish wf\nprint(1)'])).toBe('wf');
  });

  it('ignores anything that is not a publish line', () => {
    expect(publishedWorkflow([])).toBeNull();
    for (const text of [
      '# %flowat publish wf',
      '%flowat run wf',
      '%flowat publish',
      '%flowat publish 1wf',
      '%flowat publisher wf',
      'print("%flowat publish wf")'
    ]) {
      expect(publishedWorkflow([text]), text).toBeNull();
    }
  });
});
