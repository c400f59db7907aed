import { describe, expect, it } from 'vitest';

import {
  Capabilities,
  DEFAULT_SETTINGS,
  deadLetterError,
  describeAlert,
  describeSchedule,
  describeSecret,
  describeWebhook,
  fillPath,
  hasStepCell,
  problemText,
  problemsByCell,
  parseFlowAtLink,
  readSettings,
  reportPath,
  runActions,
  secretProblem
} from '../src/resources';

describe('describeSchedule', () => {
  const base = { id: 's1', workflow: 'w', version: 'latest' as const, paused: false, next_runs: [] };

  it('says when a schedule fires and which version', () => {
    expect(describeSchedule({ ...base, cron: '0 6 * * *', timezone: 'Europe/Paris' })).toBe(
      'cron 0 6 * * * (Europe/Paris) · latest · no next firing'
    );
    expect(describeSchedule({ ...base, every: '5m', version: 3 })).toMatch(/^every 5m · v3 · /);
    expect(describeSchedule({ ...base, every: 30 })).toMatch(/^every 30 s/);
  });

  it('says a schedule is paused rather than when it would fire', () => {
    const next = ['2026-01-01T06:00:00+00:00'];
    expect(describeSchedule({ ...base, cron: '* * * * *', paused: true, next_runs: next })).toMatch(
      /· paused$/
    );
    expect(describeSchedule({ ...base, cron: '* * * * *', next_runs: next })).toMatch(/· next 2026-01-01 /);
  });

  it('has a text for a schedule with no timing at all', () => {
    expect(describeSchedule({ ...base })).toMatch(/^no timing/);
  });
});

describe('describeWebhook', () => {
  const hook = {
    id: 'h',
    workflow: 'w',
    version: null,
    token_hint: 'x9Q2',
    signed: true,
    last_delivery_at: null
  };

  it('shows the token hint only, signing, version and batching', () => {
    expect(describeWebhook(hook)).toBe('…x9Q2 · signed · latest · no events yet');
    expect(describeWebhook({ ...hook, signed: false, version: 2, batch: 10, batch_window_ms: 20 })).toBe(
      '…x9Q2 · unsigned · v2 · batches of 10 within 20 ms · no events yet'
    );
    expect(describeWebhook({ ...hook, batch: 1 })).not.toMatch(/batches/);
  });
});

describe('secrets', () => {
  it('describes metadata, never a value', () => {
    const text = describeSecret({
      name: 'k',
      version: 2,
      created_at: '2026-01-01T00:00:00',
      rotated_at: null,
      last_used_at: null,
      used_by: ['etl', 'report']
    });
    expect(text).toMatch(/^v2 · set 2026-01-01 .* · never used · by etl, report$/);
  });

  it('checks the name with the vault rules and refuses an empty value', () => {
    expect(secretProblem('openai_api_key', 'x')).toBe('');
    expect(secretProblem('a.b-c_9', 'x')).toBe('');
    for (const bad of ['', '9lives', 'has space', 'a/b', 'x'.repeat(129), 'é']) {
      expect(secretProblem(bad, 'x')).toMatch(/not a valid secret name/);
    }
    expect(secretProblem('ok', '')).toMatch(/value is empty/);
    expect(secretProblem('ok', 'v'.repeat(65537))).toMatch(/longer than/);
  });

  it('never puts the value in a problem', () => {
    expect(secretProblem('bad name', 'hunter2-value')).not.toContain('hunter2');
  });
});

describe('deadLetterError', () => {
  const letter = {
    id: 'd',
    run_id: 'r',
    workflow: 'w',
    version: 1,
    step: 's',
    status: 'parked',
    created_at: '',
    redrive_run_id: null
  };
  it('reads an error object or text', () => {
    expect(deadLetterError({ ...letter, error: { type: 'KeyError', message: 'gone' } })).toBe(
      'KeyError: gone'
    );
    expect(deadLetterError({ ...letter, error: 'plain' })).toBe('plain');
    expect(deadLetterError({ ...letter, error: null })).toBe('');
  });
});

describe('Capabilities', () => {
  const document = {
    paths: {
      '/api/v1/runs/{run_id}/rerun': { post: {} },
      '/api/v1/dlq': { get: {} },
      '/api/v1/dead-letters/{letter_id}/retry': { post: {} }
    }
  };

  it('knows operations whatever their parameters are called', () => {
    const caps = new Capabilities(document);
    expect(caps.has('POST', '/runs/{id}/rerun')).toBe(true);
    expect(caps.has('post', '/runs/{}/rerun')).toBe(true);
    expect(caps.has('GET', '/runs/{id}/rerun')).toBe(false);
    expect(caps.has('POST', '/runs/{id}/resume')).toBe(false);
  });

  it('picks the first path the server has', () => {
    const caps = new Capabilities(document);
    expect(caps.first('GET', '/dead-letters', '/dlq')).toBe('/dlq');
    expect(caps.first('POST', '/dead-letters/{id}/retry', '/dlq/{id}/retry')).toBe(
      '/dead-letters/{id}/retry'
    );
    expect(caps.first('POST', '/dead-letters/{id}/discard')).toBeNull();
  });

  it('has nothing for a missing or empty document', () => {
    expect(new Capabilities(null).has('GET', '/dlq')).toBe(false);
    expect(new Capabilities({}).first('GET', '/dlq')).toBeNull();
  });
});

describe('fillPath', () => {
  it('fills parameters in order, URL-encoded', () => {
    expect(fillPath('/dead-letters/{id}/retry', 'a b/c')).toBe('/dead-letters/a%20b%2Fc/retry');
    expect(fillPath('/x/{a}/{b}', '1', '2')).toBe('/x/1/2');
  });
});

describe('runActions', () => {
  it('re-runs finished runs and resumes failed or timed-out ones', () => {
    expect(runActions('succeeded')).toEqual({ rerun: true, resume: false });
    expect(runActions('failed')).toEqual({ rerun: true, resume: true });
    expect(runActions('timed_out')).toEqual({ rerun: true, resume: true });
    expect(runActions('running')).toEqual({ rerun: false, resume: false });
    expect(runActions('queued')).toEqual({ rerun: false, resume: false });
  });
});

describe('parseFlowAtLink', () => {
  it('reads run and workflow links from any URL with the fragment', () => {
    expect(parseFlowAtLink('#flowat-run=0123456789ab')).toEqual({ run: '0123456789ab' });
    expect(parseFlowAtLink('http://h/lab#flowat-run=0123456789abcdef')).toEqual({
      run: '0123456789abcdef'
    });
    expect(parseFlowAtLink('#flowat-workflow=my.flow-2')).toEqual({ workflow: 'my.flow-2' });
  });

  it('ignores other links and refuses odd values', () => {
    for (const href of [
      null,
      '',
      '#',
      'http://example.com',
      '#section-2',
      '#flowat-run=',
      '#flowat-run=short',
      '#flowat-run=<script>',
      '#flowat-run=zzzzzzzzzzzz',
      '#flowat-workflow=a b',
      '#flowat-workflow=%E0%A4%A',
      '#flowat-other=x'
    ]) {
      expect(parseFlowAtLink(href)).toBeNull();
    }
  });
});

describe('readSettings', () => {
  it('keeps good values and defaults bad ones', () => {
    expect(readSettings(undefined)).toEqual(DEFAULT_SETTINGS);
    expect(readSettings({ defaultWorkflow: ' etl ', pollSeconds: 10, notifications: false })).toEqual({
      defaultWorkflow: 'etl',
      pollSeconds: 10,
      notifications: false
    });
    expect(readSettings({ pollSeconds: 0 }).pollSeconds).toBe(3);
    expect(readSettings({ pollSeconds: 'fast' }).pollSeconds).toBe(3);
    expect(readSettings({ pollSeconds: 10_000 }).pollSeconds).toBe(3);
    expect(readSettings({ notifications: 'no' }).notifications).toBe(true);
    expect(readSettings({ defaultWorkflow: 5 }).defaultWorkflow).toBe('');
  });
});

describe('reportPath', () => {
  it('names a report after its workflow and short run id, in one folder', () => {
    expect(reportPath('etl', '0123456789abcdef0123')).toBe('flowat-reports/etl-0123456789ab.ipynb');
    expect(reportPath('../evil/x', 'abc')).toBe('flowat-reports/.._evil_x-abc.ipynb');
  });
});

describe('compile problems', () => {
  const problem = (cell: number | null, line: number | null, code = 'x') => ({
    code,
    message: `m${cell}`,
    step: null,
    cell,
    line
  });

  it('groups problems by cell and leaves out those with no cell', () => {
    const found = problemsByCell([problem(2, 1, 'a'), problem(null, null), problem(2, 3, 'b'), problem(4, null)]);
    expect([...found.keys()]).toEqual([2, 4]);
    expect(found.get(2)?.map(p => p.code)).toEqual(['a', 'b']);
    expect(problemsByCell([problem(0, 1)]).size).toBe(0);
  });

  it('says the line when it is known', () => {
    expect(problemText(problem(2, 3))).toBe('line 3: m2');
    expect(problemText(problem(2, null))).toBe('m2');
  });

  it('finds step cells only on the first line', () => {
    expect(hasStepCell(['x = 1', '%%flowat step a\nx = 1'])).toBe(true);
    expect(hasStepCell(['\uFEFF%%flowat step a'])).toBe(true);
    expect(hasStepCell(['x = 1\n%%flowat step a', '%%flowat publish w', '%%flowat stepa'])).toBe(
      false
    );
  });
});

describe('describeAlert', () => {
  const alert = {
    id: 'a1',
    workflow: 'nightly',
    event: 'failure',
    kind: 'chat',
    target: 'https://hooks.chat.example/services/T000/B000/s3cr3tPath?token=abc'
  };

  it('shows where an alert goes without a webhook URL credential', () => {
    const text = describeAlert(alert);
    expect(text).toBe('on failure → chat hooks.chat.example');
    expect(text).not.toMatch(/s3cr3t|token|abc/);
  });

  it('names emails, handlers and the organization default', () => {
    expect(describeAlert({ ...alert, kind: 'email', target: 'ops@example.org' })).toBe(
      'on failure → email ops@example.org'
    );
    expect(describeAlert({ ...alert, workflow: null, event: 'success', kind: 'workflow', target: 'handler' })).toBe(
      'on success → workflow handler · every workflow (organization default)'
    );
    expect(describeAlert({ ...alert, target: 'not a url' })).toBe('on failure → chat an address');
  });
});
