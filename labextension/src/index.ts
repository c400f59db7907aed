/**
 * FlowAt's JupyterLab extension: the FlowAt sidebar panel, run views in the main area
 * (restored after a reload), commands in the palette, notifications when runs started
 * here end, and markers on `%%flowat step` cells. Everything goes through FlowAt's REST
 * API served by the Jupyter server extension, as the logged-in Jupyter user.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  MainAreaWidget,
  Notification,
  WidgetTracker,
  showErrorMessage
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { FlowAtApi } from './api';
import { activateMarkers } from './markers';
import { FlowAtPanel } from './panel';
import { askParameters } from './runform';
import { RunView } from './runview';
import { RunWatcher } from './notify';

/** The command ids. */
export const CommandIDs = {
  openPanel: 'flowat:open-panel',
  runWorkflow: 'flowat:run-workflow',
  showRun: 'flowat:show-run',
  cancelRun: 'flowat:cancel-run'
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
  optional: [ICommandPalette, ILayoutRestorer, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null
  ) => {
    const api = new FlowAtApi();
    const { commands, shell } = app;
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: 'flowat-run' });

    const showRun = (runId: string) => {
      const open = tracker.find(w => w.content.runId === runId);
      if (open) {
        shell.activateById(open.id);
        void open.content.refresh();
        return open;
      }
      const content = new RunView(api, runId, cancelRun);
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

    const panel = new FlowAtPanel(api, {
      runWorkflow: async name => {
        await runWorkflow(name);
      },
      showRun: runId => void showRun(runId),
      cancelRun
    });
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
    if (palette) {
      for (const command of [CommandIDs.openPanel, CommandIDs.runWorkflow, CommandIDs.showRun]) {
        palette.addItem({ command, category: 'FlowAt' });
      }
    }
    if (notebooks) {
      activateMarkers(notebooks, api);
    }
  }
};

export default plugin;
