/**
 * FlowAt's JupyterLab extension: the FlowAt sidebar panel, run views in the main area
 * (restored after a reload), commands in the palette, notifications when runs started
 * here end, markers on `%%flowat step` cells, links in the magics' output that open run
 * views, settings (default workflow, poll interval, notifications) and keyboard
 * shortcuts. Everything goes through FlowAt's REST API served by the Jupyter server
 * extension, as the logged-in Jupyter user.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  WidgetTracker,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { FlowAtApi, IRunDocument } from './api';
import { activateMarkers } from './markers';
import { FlowAtPanel, IPanelActions } from './panel';
import { DEFAULT_SETTINGS, IDeadLetter, parseFlowAtLink, readSettings, reportPath } from './resources';
import { askParameters } from './runform';
import { IRunViewActions, RunView } from './runview';
import { RunWatcher } from './notify';
import { askAndSetSecret } from './secretform';
import { buildSections } from './sections';
import { editingActions } from './settingactions';
import { buildSettingSections, hideForbidden, redeemInvitation } from './settingsections';

/** The command ids. */
export const CommandIDs = {
  openPanel: 'flowat:open-panel',
  runWorkflow: 'flowat:run-workflow',
  showRun: 'flowat:show-run',
  cancelRun: 'flowat:cancel-run',
  rerunRun: 'flowat:rerun-run',
  resumeRun: 'flowat:resume-run',
  addSecret: 'flowat:add-secret',
  redeemInvitation: 'flowat:redeem-invitation'
};

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<rect x="2" y="3" width="7" height="5" rx="1.5"/><rect x="15" y="9.5" width="7" height="5" rx="1.5"/>' +
  '<rect x="2" y="16" width="7" height="5" rx="1.5"/>' +
  '<path d="M9 5.5h3.5v6.5H15v1h-3.5V7H9zM9 18.5h3.5V13h1v6.5H9z"/></g></svg>';

/** FlowAt's icon (three steps joined into a flow). */
export const flowatIcon = new LabIcon({ name: 'flowat:icon', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'flowat-jupyterlab:plugin',
  description: 'FlowAt workflows and runs inside JupyterLab.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, INotebookTracker, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    registry: ISettingRegistry | null
  ) => {
    const api = new FlowAtApi();
    const { commands, shell } = app;
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: 'flowat-run' });
    let settings = DEFAULT_SETTINGS;

    const showRun = (runId: string) => {
      const open = tracker.find(w => w.content.runId === runId);
      if (open) {
        shell.activateById(open.id);
        void open.content.refresh();
        return open;
      }
      const content = new RunView(api, runId, runViewActions);
      const widget = new MainAreaWidget({ content });
      widget.id = `flowat-run-${runId}`;
      widget.title.icon = flowatIcon;
      content.title.changed.connect(() => {
        widget.title.label = content.title.label;
      });
      void tracker.add(widget);
      shell.add(widget, 'main');
      shell.activateById(widget.id);
      return widget;
    };
    const watcher = new RunWatcher(api, runId => showRun(runId));

    /** A new run (re-run or resume) of `from`: watch it, say so, open its view. */
    const started = (what: string, run: IRunDocument) => {
      watcher.watch(run.run_id);
      Notification.info(`${what}: ${run.workflow} v${run.version} (run ${run.run_id.slice(0, 12)})`, {
        autoClose: 4000,
        actions: [{ label: 'Open run', callback: () => showRun(run.run_id) }]
      });
      showRun(run.run_id);
    };

    async function rerunRun(runId: string): Promise<void> {
      try {
        started('Re-running', await api.rerun(runId));
      } catch (error) {
        await showErrorMessage('FlowAt: cannot re-run', (error as Error).message);
      }
    }

    async function resumeRun(runId: string): Promise<void> {
      try {
        started('Resuming', await api.resume(runId));
      } catch (error) {
        await showErrorMessage('FlowAt: cannot resume', (error as Error).message);
      }
    }

    async function openReport(run: IRunDocument): Promise<void> {
      const path = reportPath(run.workflow, run.run_id);
      try {
        const notebook = await api.report(run.run_id);
        const contents = app.serviceManager.contents;
        await contents.save(path.split('/')[0], { type: 'directory' });
        await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
        await commands.execute('docmanager:open', { path });
      } catch (error) {
        await showErrorMessage('FlowAt: cannot open the report', (error as Error).message);
      }
    }

    const runViewActions: IRunViewActions = { cancel: cancelRun, openReport };

    async function cancelRun(runId: string): Promise<void> {
      try {
        await api.cancel(runId);
        Notification.info(`Cancelling run ${runId.slice(0, 12)}`, { autoClose: 4000 });
      } catch (error) {
        await showErrorMessage('FlowAt: cannot cancel', (error as Error).message);
      }
    }

    async function runWorkflow(workflow: string): Promise<string | null> {
      try {
        const version = await api.version(workflow);
        const parameters = await askParameters(version);
        if (parameters === null) {
          return null;
        }
        const run = await api.start(workflow, parameters);
        watcher.watch(run.run_id);
        Notification.info(`Started ${workflow} v${run.version} (run ${run.run_id.slice(0, 12)})`, {
          autoClose: 4000,
          actions: [{ label: 'Open run', callback: () => showRun(run.run_id) }]
        });
        return run.run_id;
      } catch (error) {
        await showErrorMessage(`FlowAt: cannot run ${workflow}`, (error as Error).message);
        return null;
      }
    }

    async function addSecret(name = ''): Promise<void> {
      try {
        const stored = await askAndSetSecret(api, name);
        if (stored) {
          Notification.success(`Secret ${stored.name} saved (version ${stored.version})`, {
            autoClose: 4000
          });
          const section = panel.section('secrets');
          if (section) {
            section.node.open = true;
            await section.refresh();
          }
        }
      } catch (error) {
        await showErrorMessage('FlowAt: cannot save the secret', (error as Error).message);
      }
    }

    async function deleteSecret(name: string): Promise<void> {
      const answer = await showDialog({
        title: `Delete secret ${name}?`,
        body: 'Workflows that read it will fail until it is set again. Its history stays.',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (!answer.button.accept) {
        return;
      }
      try {
        await api.deleteSecret(name);
        await panel.section('secrets')?.refresh();
      } catch (error) {
        await showErrorMessage('FlowAt: cannot delete the secret', (error as Error).message);
      }
    }

    async function resolveDeadLetter(letter: IDeadLetter, action: 'retry' | 'discard') {
      try {
        const answer: any = await api.resolveDeadLetter(letter.id, action);
        const runId = answer?.run_id ?? answer?.redrive_run_id;
        if (action === 'retry' && typeof runId === 'string') {
          watcher.watch(runId);
        }
        Notification.info(
          action === 'retry'
            ? `Retrying ${letter.step} of ${letter.workflow}`
            : `Discarded the dead letter of ${letter.step}`,
          { autoClose: 4000 }
        );
        await panel.section('dead-letters')?.refresh();
      } catch (error) {
        await showErrorMessage(`FlowAt: cannot ${action}`, (error as Error).message);
      }
    }

    const panelActions: IPanelActions = {
      runWorkflow: async name => {
        await runWorkflow(name);
      },
      showRun: runId => void showRun(runId),
      cancelRun
    };
    const editing = editingActions(api, async name => {
      await panel.section(name)?.refresh();
    });
    const sections = [
      ...buildSections(api, {
        showRun: runId => void showRun(runId),
        addSecret,
        deleteSecret,
        resolveDeadLetter,
        ...editing
      }),
      ...buildSettingSections(api)
    ];
    const panel = new FlowAtPanel(api, panelActions, sections);
    void hideForbidden(api, sections);
    // re-run and resume are offered where the server has their endpoints
    void api
      .capabilities()
      .then(caps => {
        if (caps.has('POST', '/runs/{}/rerun')) {
          panelActions.rerunRun = rerunRun;
          runViewActions.rerun = rerunRun;
        }
        if (caps.has('POST', '/runs/{}/resume')) {
          runViewActions.resume = resumeRun;
        }
        panel.node.dataset.capabilities = 'read';
        tracker.forEach(widget => void widget.content.refresh());
      })
      .catch(() => undefined);
    panel.title.icon = flowatIcon;
    shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, 'flowat-panel');
      void restorer.restore(tracker, {
        command: CommandIDs.showRun,
        args: widget => ({ runId: widget.content.runId }),
        name: widget => widget.content.runId
      });
    }

    commands.addCommand(CommandIDs.openPanel, {
      label: 'FlowAt: Open panel',
      caption: 'Show the FlowAt panel: workflows and recent runs',
      icon: flowatIcon,
      execute: () => shell.activateById(panel.id)
    });
    commands.addCommand(CommandIDs.runWorkflow, {
      label: args => (args.workflow ? `FlowAt: Run ${args.workflow}…` : 'FlowAt: Run workflow…'),
      caption: 'Run a published workflow with parameters',
      execute: async args => {
        let workflow = typeof args.workflow === 'string' ? args.workflow : '';
        if (!workflow) {
          let names: string[];
          try {
            names = (await api.workflows()).map(w => w.name);
          } catch (error) {
            await showErrorMessage('FlowAt: cannot list workflows', (error as Error).message);
            return null;
          }
          if (!names.length) {
            await showErrorMessage('FlowAt', 'No workflows yet: publish one first.');
            return null;
          }
          const preferred = settings.defaultWorkflow;
          if (preferred && names.includes(preferred)) {
            names = [preferred, ...names.filter(n => n !== preferred)];
          }
          const chosen = await InputDialog.getItem({ title: 'FlowAt: Run workflow', items: names });
          if (!chosen.button.accept || !chosen.value) {
            return null;
          }
          workflow = chosen.value;
        }
        return runWorkflow(workflow);
      }
    });
    commands.addCommand(CommandIDs.showRun, {
      label: 'FlowAt: Show run…',
      caption: 'Open a run view by run id',
      execute: async args => {
        let runId = typeof args.runId === 'string' ? args.runId : '';
        if (!runId) {
          const asked = await InputDialog.getText({
            title: 'FlowAt: Show run',
            label: 'Run id',
            okLabel: 'Show'
          });
          if (!asked.button.accept || !asked.value?.trim()) {
            return;
          }
          runId = asked.value.trim();
        }
        showRun(runId);
      }
    });
    commands.addCommand(CommandIDs.cancelRun, {
      label: 'FlowAt: Cancel run',
      execute: args =>
        typeof args.runId === 'string' ? cancelRun(args.runId) : Promise.resolve()
    });
    commands.addCommand(CommandIDs.rerunRun, {
      label: 'FlowAt: Re-run run',
      execute: args =>
        typeof args.runId === 'string' ? rerunRun(args.runId) : Promise.resolve()
    });
    commands.addCommand(CommandIDs.resumeRun, {
      label: 'FlowAt: Resume run from its failed step',
      execute: args =>
        typeof args.runId === 'string' ? resumeRun(args.runId) : Promise.resolve()
    });
    commands.addCommand(CommandIDs.redeemInvitation, {
      label: 'FlowAt: Redeem an invitation…',
      caption: 'Join the organization that invited you, with the token it gave you',
      execute: () => redeemInvitation(api)
    });
    commands.addCommand(CommandIDs.addSecret, {
      label: 'FlowAt: Add or replace a secret…',
      caption: 'Store a secret through the REST API (the value never reaches the notebook)',
      execute: args => addSecret(typeof args.name === 'string' ? args.name : '')
    });

    // links the magics print: #flowat-run=ID opens a run view, #flowat-workflow=NAME
    // shows the panel filtered to the workflow
    const follow = (href: string | null): boolean => {
      const target = parseFlowAtLink(href);
      if (!target) {
        return false;
      }
      if ('run' in target) {
        showRun(target.run);
      } else {
        shell.activateById(panel.id);
        panel.showWorkflow(target.workflow);
      }
      return true;
    };
    document.addEventListener(
      'click',
      event => {
        const anchor = (event.target as Element | null)?.closest?.('a');
        if (anchor && follow(anchor.getAttribute('href'))) {
          event.preventDefault();
          event.stopPropagation();
        }
      },
      true
    );
    void app.restored.then(() => follow(window.location.hash || null));

    if (registry) {
      const apply = (loaded: ISettingRegistry.ISettings) => {
        settings = readSettings(loaded.composite as Record<string, unknown>);
        panel.pollMs = settings.pollSeconds * 1000;
        watcher.notify = settings.notifications;
      };
      void registry
        .load(plugin.id)
        .then(loaded => {
          apply(loaded);
          loaded.changed.connect(apply);
        })
        .catch(error => console.warn('FlowAt: settings not loaded', error));
    }
    if (palette) {
      for (const command of [
        CommandIDs.openPanel,
        CommandIDs.runWorkflow,
        CommandIDs.showRun,
        CommandIDs.addSecret,
        CommandIDs.redeemInvitation
      ]) {
        palette.addItem({ command, category: 'FlowAt' });
      }
    }
    if (notebooks) {
      activateMarkers(notebooks, api);
    }
  }
};

export default plugin;
