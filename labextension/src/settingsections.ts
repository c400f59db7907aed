/**
 * The panel's organization settings: members and invitations, API keys, and the audit
 * log, each a section read only while open. What the caller's role forbids is hidden
 * (read from GET /api/v1/me); the server checks every action again. A new API key or
 * invitation token is shown once (shownonce.ts) and never kept by the page.
 */

import { Notification, showErrorMessage } from '@jupyterlab/apputils';

import { FlowAtApi } from './api';
import { askForm, confirm } from './formdialog';
import {
  AUDIT_PAGE,
  IApiKey,
  IInvitation,
  IMe,
  IMember,
  ISettingsAccess,
  describeAuditEntry,
  describeInvitation,
  describeKey,
  grantableRoles,
  invitationProblem,
  keyProblem,
  mayManage,
  nextAuditPage,
  settingsAccess
} from './orgsettings';
import { Section, button, row } from './sections';
import { showOnce } from './shownonce';
import { formatTime } from './model';

/** The permissions an API key may carry, as the server's matrix names them. */
async function knownScopes(api: FlowAtApi): Promise<string[]> {
  try {
    const document: any = await api.request('GET', 'openapi.json');
    const matrix = document?.info?.['x-flowat-permission-matrix'] ?? {};
    return Object.keys(matrix);
  } catch {
    return [];
  }
}

async function failed(what: string, error: unknown): Promise<void> {
  await showErrorMessage(`FlowAt: cannot ${what}`, (error as Error).message);
}

/** Members with their roles (change, remove) and the invitations (invite, revoke). */
function membersSection(api: FlowAtApi): Section {
  const invite = button('Invite…', 'jp-mod-accept flowat-invite', 'Invite a user', event => {
    event.preventDefault();
    event.stopPropagation();
    void inviteUser(api).then(() => section.refresh());
  });
  const section: Section = new Section(
    'members',
    'Members',
    async () => {
      const me = await api.me();
      const access = settingsAccess(me);
      invite.hidden = !access.manageMembers;
      const members = await api.members();
      const drawn: HTMLElement[] = members.map(m =>
        memberRow(api, me, access, m, () => section.refresh())
      );
      if (access.manageMembers) {
        const invitations = (await api.invitations()).filter(i => i.status === 'open');
        drawn.push(...invitations.map(i => invitationRow(api, me, i, () => section.refresh())));
      }
      return drawn;
    },
    invite
  );
  return section;
}

function memberRow(
  api: FlowAtApi,
  me: IMe,
  access: ISettingsAccess,
  member: IMember,
  redraw: () => Promise<void>
): HTMLElement {
  const li = row('flowat-member', member.user, `${member.role} · since ${formatTime(member.since)}`);
  li.dataset.user = member.user;
  li.dataset.role = member.role;
  if (!access.manageMembers || member.user === me.user || !mayManage(me.role, member.role)) {
    return li;
  }
  const roles = document.createElement('select');
  roles.className = 'jp-mod-styled flowat-small flowat-member-role';
  roles.title = `Change the role of ${member.user}`;
  for (const role of grantableRoles(me.role)) {
    const option = document.createElement('option');
    option.value = role;
    option.textContent = role;
    roles.append(option);
  }
  roles.value = member.role;
  roles.onchange = () => {
    const role = roles.value;
    void api.setMemberRole(member.user, role).then(redraw, async error => {
      roles.value = member.role;
      await failed(`make ${member.user} ${role}`, error);
    });
  };
  const remove = button('Remove', 'jp-mod-warn flowat-member-remove', `Remove ${member.user}`, () => {
    void (async () => {
      if (
        await confirm(
          `Remove ${member.user}?`,
          'They lose access to the organization, and their API keys stop working at once.',
          'Remove'
        )
      ) {
        await api.removeMember(member.user).then(redraw, error => failed('remove them', error));
      }
    })();
  });
  li.append(roles, remove);
  return li;
}

function invitationRow(
  api: FlowAtApi,
  me: IMe,
  invitation: IInvitation,
  redraw: () => Promise<void>
): HTMLElement {
  const li = row('flowat-invitation', `${invitation.user} (invited)`, describeInvitation(invitation));
  li.dataset.id = invitation.id;
  li.dataset.user = invitation.user;
  if (mayManage(me.role, invitation.role)) {
    li.append(
      button('Revoke', 'jp-mod-warn flowat-invitation-revoke', 'Revoke the invitation', () => {
        void api.revokeInvitation(invitation.id).then(redraw, error => failed('revoke it', error));
      })
    );
  }
  return li;
}

async function inviteUser(api: FlowAtApi): Promise<void> {
  const me = await api.me();
  const roles = grantableRoles(me.role);
  const values = await askForm(
    'Invite a user',
    [
      { name: 'user', label: 'User name', placeholder: 'alice' },
      { name: 'role', label: 'Role', kind: 'select', options: roles, value: 'viewer' }
    ],
    v => invitationProblem(String(v.user).trim(), String(v.role), me.role),
    'Invite'
  );
  if (!values) {
    return;
  }
  try {
    const created = await api.invite(String(values.user).trim(), String(values.role));
    await showOnce(
      `Invitation for ${created.user}`,
      created.token,
      `Give ${created.user} this one-time token; they redeem it with their own login ` +
        `(POST /api/v1/invitations/redeem) to join as ${created.role} until ` +
        `${formatTime(created.expires_at)}. FlowAt shows it only now.`
    );
  } catch (error) {
    await failed('invite', error);
  }
}

/**
 * Ask for an invitation's token (a password field, emptied once read) and redeem it as
 * the logged-in user.
 */
export async function redeemInvitation(api: FlowAtApi): Promise<void> {
  const values = await askForm(
    'Redeem an invitation',
    [{ name: 'token', label: 'Invitation token (fi_…)', kind: 'password' }],
    v => (String(v.token).trim().startsWith('fi_') ? '' : 'Paste the token you were given: it starts with fi_'),
    'Join'
  );
  if (!values) {
    return;
  }
  try {
    const joined = await api.redeemInvitation(String(values.token).trim());
    Notification.success(`You joined ${joined.organization} as ${joined.role}`, { autoClose: 6000 });
  } catch (error) {
    await failed('redeem the invitation', error);
  } finally {
    values.token = '';
  }
}

/** API keys: list, create (shown once), revoke, rotate (the new key shown once). */
function keysSection(api: FlowAtApi): Section {
  const create = button('New key…', 'jp-mod-accept flowat-key-create', 'Create an API key', event => {
    event.preventDefault();
    event.stopPropagation();
    void createKey(api).then(() => section.refresh());
  });
  const section: Section = new Section(
    'keys',
    'API keys',
    async () => {
      const access = settingsAccess(await api.me());
      create.hidden = !access.manageKeys;
      const keys = (await api.keys()).filter(k => !k.revoked_at);
      if (!keys.length) {
        return [emptyRow('No API keys.')];
      }
      return keys.map(k => keyRow(api, access, k, () => section.refresh()));
    },
    create
  );
  return section;
}

function keyRow(
  api: FlowAtApi,
  access: ISettingsAccess,
  key: IApiKey,
  redraw: () => Promise<void>
): HTMLElement {
  const li = row('flowat-key', key.name, describeKey(key));
  li.dataset.id = key.id;
  if (!access.manageKeys) {
    return li;
  }
  li.append(
    button('Rotate', 'flowat-key-rotate', 'Replace it; the old key works one more hour', () => {
      void (async () => {
        try {
          const rotated = await api.rotateKey(key.id);
          await showOnce(
            `New key for ${key.name}`,
            rotated.key,
            'The old key keeps working for one hour. FlowAt shows the new one only now.'
          );
        } catch (error) {
          await failed('rotate the key', error);
        }
        await redraw();
      })();
    }),
    button('Revoke', 'jp-mod-warn flowat-key-revoke', 'Revoke it now', () => {
      void (async () => {
        if (await confirm(`Revoke ${key.name}?`, 'It stops working at once.', 'Revoke')) {
          await api.revokeKey(key.id).then(redraw, error => failed('revoke the key', error));
        }
      })();
    })
  );
  return li;
}

async function createKey(api: FlowAtApi): Promise<void> {
  const known = await knownScopes(api);
  const values = await askForm(
    'Create an API key',
    [
      { name: 'name', label: 'Name', placeholder: 'ci-runner' },
      {
        name: 'scopes',
        label: 'Scopes (space-separated; * for all your role holds)',
        value: 'runs:read runs:write'
      }
    ],
    v => keyProblem(String(v.name), scopesOf(v.scopes), known),
    'Create'
  );
  if (!values) {
    return;
  }
  try {
    const created = await api.createKey(String(values.name).trim(), scopesOf(values.scopes));
    await showOnce(
      `API key ${created.name}`,
      created.key,
      'Copy it now: FlowAt keeps only its hash and shows it this once.'
    );
  } catch (error) {
    await failed('create the key', error);
  }
}

function scopesOf(text: string | boolean): string[] {
  return String(text).split(/[\s,]+/).filter(Boolean);
}

/** The audit log, newest first, filtered by action, a page at a time. */
function auditSection(api: FlowAtApi): Section {
  const filter = document.createElement('input');
  filter.className = 'jp-mod-styled flowat-audit-filter';
  filter.placeholder = 'action starts with… (key, member, secret)';
  filter.onclick = event => event.stopPropagation();
  filter.onkeydown = event => {
    if (event.key === 'Enter') {
      event.preventDefault();
      pages.length = 0;
      void section.refresh();
    }
  };
  /** The `before` of every page shown so far (the current one last; '' for the newest). */
  const pages: string[] = [];
  const section: Section = new Section(
    'audit',
    'Audit log',
    async () => {
      const before = pages.length ? pages[pages.length - 1] : '';
      const entries = await api.audit({ action: filter.value, before, limit: AUDIT_PAGE });
      const drawn: HTMLElement[] = entries.map(entry => {
        const li = row('flowat-audit-entry', entry.action, describeAuditEntry(entry));
        li.dataset.action = entry.action;
        return li;
      });
      if (!drawn.length) {
        drawn.push(emptyRow('No entries.'));
      }
      const paging = document.createElement('li');
      paging.className = 'flowat-audit-paging flowat-empty';
      const next = nextAuditPage(entries, AUDIT_PAGE);
      const newer = button('Newer', 'flowat-audit-newer', 'The newer page', () => {
        pages.pop();
        void section.refresh();
      });
      newer.disabled = !pages.length;
      const older = button('Older', 'flowat-audit-older', 'The older page', () => {
        if (next) {
          pages.push(next);
          void section.refresh();
        }
      });
      older.disabled = next === null;
      paging.append(newer, older);
      drawn.push(paging);
      return drawn;
    },
    filter
  );
  return section;
}

function emptyRow(text: string): HTMLElement {
  const li = document.createElement('li');
  li.className = 'flowat-empty';
  li.textContent = text;
  return li;
}

/** The settings sections (members, API keys, audit log), built on `api`. */
export function buildSettingSections(api: FlowAtApi): Section[] {
  const sections = [membersSection(api), keysSection(api), auditSection(api)];
  for (const section of sections) {
    section.live = false; // a poll's redraw would reset a role being chosen, a page being read
  }
  return sections;
}

/** Hide the sections the caller's role may not read (read from GET /api/v1/me). */
export async function hideForbidden(api: FlowAtApi, sections: Section[]): Promise<void> {
  let access: ISettingsAccess;
  try {
    access = settingsAccess(await api.me());
  } catch {
    return; // the sections say why when opened
  }
  const readable: Record<string, boolean> = {
    members: access.members,
    keys: access.keys,
    audit: access.audit
  };
  for (const section of sections) {
    if (section.name in readable) {
      section.node.hidden = !readable[section.name];
    }
  }
}
