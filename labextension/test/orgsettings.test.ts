import { describe, expect, it } from 'vitest';

import {
  IMe,
  auditQuery,
  batchingChange,
  describeAuditEntry,
  describeKey,
  describeSecretDetail,
  grantableRoles,
  invitationProblem,
  keyProblem,
  mayManage,
  nextAuditPage,
  scheduleChange,
  settingsAccess
} from '../src/orgsettings';

const OWNER_PERMISSIONS = [
  'members:read',
  'members:write',
  'keys:read',
  'keys:write',
  'audit:read',
  'secrets:read',
  'secrets:write',
  'schedules:write',
  'webhooks:write',
  'organization:write'
];

function me(role: string, permissions: string[], extra: Partial<IMe> = {}): IMe {
  return { user: 'u', organization: 'o', role, via: 'jupyter', key_id: null, permissions, ...extra };
}

describe('settingsAccess', () => {
  it('offers the Jupyter Owner everything, master-key rotation included', () => {
    const access = settingsAccess(me('owner', OWNER_PERMISSIONS));
    expect(access.manageMembers && access.manageKeys && access.audit).toBe(true);
    expect(access.rotateMasterKey).toBe(true);
  });

  it('never offers master-key rotation through an API key or a session made with one', () => {
    expect(settingsAccess(me('owner', OWNER_PERMISSIONS, { via: 'key', key_id: 'k1' })).rotateMasterKey).toBe(false);
    expect(settingsAccess(me('owner', OWNER_PERMISSIONS, { via: 'session', key_id: 'k1' })).rotateMasterKey).toBe(false);
    const admin = me('administrator', OWNER_PERMISSIONS.filter(p => p !== 'organization:write'));
    expect(settingsAccess(admin).rotateMasterKey).toBe(false);
  });

  it('hides what a Viewer may not do, and everything when the caller is unknown', () => {
    const viewer = settingsAccess(me('viewer', ['members:read', 'organization:read']));
    expect(viewer.members).toBe(true);
    expect(viewer.manageMembers || viewer.keys || viewer.audit || viewer.secretsRead).toBe(false);
    expect(viewer.schedulesWrite || viewer.webhooksWrite).toBe(false);
    expect(Object.values(settingsAccess(null)).some(Boolean)).toBe(false);
  });
});

describe('roles', () => {
  it('grants no role above the granter, and the Owner role only as an Owner', () => {
    expect(grantableRoles('owner')).toEqual(['owner', 'administrator', 'editor', 'viewer']);
    expect(grantableRoles('administrator')).toEqual(['administrator', 'editor', 'viewer']);
    expect(grantableRoles('editor')).toEqual([]);
    expect(grantableRoles('viewer')).toEqual([]);
    expect(grantableRoles('wizard')).toEqual([]);
  });

  it('lets nobody manage a member above them', () => {
    expect(mayManage('administrator', 'owner')).toBe(false);
    expect(mayManage('administrator', 'editor')).toBe(true);
    expect(mayManage('owner', 'owner')).toBe(true);
    expect(mayManage('editor', 'viewer')).toBe(false);
  });

  it('checks an invitation before it is sent', () => {
    expect(invitationProblem('alice', 'editor', 'administrator')).toBe('');
    expect(invitationProblem('alice', 'owner', 'administrator')).toMatch(/cannot invite/);
    expect(invitationProblem('no spaces', 'viewer', 'owner')).toMatch(/not a user name/);
    expect(invitationProblem('', 'viewer', 'owner')).toMatch(/not a user name/);
    expect(invitationProblem('bob', 'viewer', 'editor')).toMatch(/cannot invite/);
  });
});

describe('API keys', () => {
  const known = ['runs:read', 'runs:write'];
  it('checks a new key', () => {
    expect(keyProblem('ci', ['runs:read'], known)).toBe('');
    expect(keyProblem('ci', ['*'], known)).toBe('');
    expect(keyProblem(' ', ['runs:read'], known)).toMatch(/name/);
    expect(keyProblem('ci', [], known)).toMatch(/at least one scope/);
    expect(keyProblem('ci', ['runs:fly'], known)).toMatch(/Unknown scope runs:fly/);
  });

  it('describes a key by its prefix, never more', () => {
    const line = describeKey({
      id: 'k1',
      name: 'ci',
      prefix: 'fk_abcd',
      user: 'alice',
      scopes: ['runs:read'],
      last_used_at: null,
      expires_at: null,
      revoked_at: null
    });
    expect(line).toBe('fk_abcd… · alice · runs:read · never used');
  });
});

describe('audit log', () => {
  it('builds the filter and page query', () => {
    expect(auditQuery({})).toBe('limit=25');
    expect(auditQuery({ action: ' key ', before: '2026-01-01T00:00:00+00:00', limit: 10 })).toBe(
      'action=key&before=2026-01-01T00%3A00%3A00%2B00%3A00&limit=10'
    );
  });

  it('pages older from the last entry, and stops at a short page', () => {
    const entries = [1, 2, 3].map(i => ({ at: `t${i}`, actor: 'a', action: 'x', target: 'y' }));
    expect(nextAuditPage(entries, 3)).toBe('t3');
    expect(nextAuditPage(entries, 4)).toBeNull();
    expect(nextAuditPage([], 3)).toBeNull();
  });

  it('never shows a detail field named like a credential', () => {
    const line = describeAuditEntry({
      at: '2026-01-01T00:00:00+00:00',
      actor: 'alice',
      action: 'key.created',
      target: 'k1',
      detail: { scopes: ['*'], token: 'fi_leak', secret: 'x', via: 'jupyter' }
    });
    expect(line).toContain('alice');
    expect(line).toContain('scopes=["*"]');
    expect(line).not.toContain('fi_leak');
    expect(line).not.toContain('via');
  });
});

describe('schedule and webhook forms', () => {
  const base = { timing: 'cron' as const, cron: '0 6 * * 1-5', every: '', timezone: 'UTC', parameters: '{"n": 3}' };

  it('turns a valid form into the PATCH body', () => {
    expect(scheduleChange(base)).toEqual({
      body: { cron: '0 6 * * 1-5', timezone: 'UTC', parameters: { n: 3 } },
      problem: ''
    });
    expect(scheduleChange({ ...base, timing: 'every', every: '15m', parameters: '' }).body).toEqual({
      every: '15m',
      timezone: 'UTC',
      parameters: {}
    });
  });

  it('refuses bad timing and parameters before sending', () => {
    expect(scheduleChange({ ...base, cron: '0 6 *' }).problem).toMatch(/not a cron expression/);
    expect(scheduleChange({ ...base, timing: 'every', every: 'often' }).problem).toMatch(/not an interval/);
    expect(scheduleChange({ ...base, parameters: '{n: 3}' }).problem).toMatch(/not JSON/);
    expect(scheduleChange({ ...base, parameters: '[1]' }).problem).toMatch(/JSON object/);
    expect(scheduleChange({ ...base, parameters: 'null' }).problem).toMatch(/JSON object/);
  });

  it('checks batching', () => {
    expect(batchingChange('', '')).toEqual({ body: { batch: null }, problem: '' });
    expect(batchingChange('10', '20ms')).toEqual({ body: { batch: 10, batch_window: '20ms' }, problem: '' });
    expect(batchingChange('0', '').problem).toMatch(/1 to 1000/);
    expect(batchingChange('1001', '').problem).toMatch(/1 to 1000/);
    expect(batchingChange('2.5', '').problem).toMatch(/whole number/);
    expect(batchingChange('5', 'soon').problem).toMatch(/not a window/);
  });
});

describe('secret detail', () => {
  it('lists versions, who set them and where the secret is used, never a value', () => {
    const lines = describeSecretDetail(
      {
        name: 'api',
        version: 2,
        last_used_at: null,
        workflows: ['load'],
        steps: [{ workflow: 'load', version: 3, step: 'fetch' }]
      },
      [
        { action: 'set', version: 1, at: '2026-01-01T00:00:00+00:00', by: 'alice' },
        { action: 'rotated', version: 2, at: '2026-01-02T00:00:00+00:00', by: 'bob' }
      ]
    );
    expect(lines.some(l => l.includes('set v1 by alice'))).toBe(true);
    expect(lines.some(l => l.includes('rotated v2 by bob'))).toBe(true);
    expect(lines).toContain('Used by runs of: load');
    expect(lines).toContain('Named in load v3 · step fetch');
    expect(describeSecretDetail({ ...{ name: 'x', version: 1, last_used_at: null }, workflows: [], steps: [] }, [])).toEqual([
      'No history.',
      'No run has used it yet.',
      'No step of a latest version names it.'
    ]);
  });
});
