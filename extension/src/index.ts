/**
 * Strato in JupyterLab: a sidebar of this user's clusters, dashboards as main-area tabs,
 * a status-bar item, and a command that inserts `%cluster connect ADDR` into a notebook.
 *
 *   ClusterModel (model.ts)    one poll of /strato/api/clusters (the server extension, Python)
 *     -> StratoSidebar  (sidebar.ts)    left panel, titled Strato
 *     -> StratoStatus   (statusbar.ts)  status bar
 *   commands (declared here): strato:insert-connect, strato:open-dashboard, strato:start-cluster,
 *                             strato:connect-cluster, strato:show-sidebar
 *   settings (schema/plugin.json): refreshInterval (ms), defaultAddress (+ defaultTokenFile)
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IFrame, MainAreaWidget, WidgetTracker, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { DASHBOARDS, connectCluster } from './api';
import { createDashboard } from './dashboard';
import { stratoIcon } from './icon';
import { ClusterModel } from './model';
import { CommandIDs, StratoSidebar, connectCode, connectDialog, startWithMessage } from './sidebar';
import { StratoStatus, pickCluster } from './statusbar';

const PLUGIN_ID = 'strato-jupyterlab:plugin';
const DEFAULT_INTERVAL_MS = 2000;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Strato clusters: sidebar, dashboards, status bar',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ISettingRegistry, IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    const { commands, shell } = app;
    const model = new ClusterModel(DEFAULT_INTERVAL_MS);
    const sidebar = new StratoSidebar(model, commands);
    sidebar.title.icon = stratoIcon;
    sidebar.title.label = 'Strato';
    shell.add(sidebar, 'left', { rank: 250 });
    restorer?.add(sidebar, 'strato-sidebar');

    const kernelId = () => notebooks.currentWidget?.sessionContext.session?.kernel?.id ?? null;
    let status: StratoStatus | null = null;
    if (statusBar) {
      status = new StratoStatus(model, kernelId, () => shell.activateById(sidebar.id));
      statusBar.registerStatusItem('strato:status', { item: status, align: 'left', rank: 100 });
      notebooks.currentChanged.connect(() => status?.update());
    }
    // Poll while the sidebar or the status-bar item is on screen (and the browser tab is visible).
    model.watched = () => sidebar.isVisible || (status?.isVisible ?? false);

    const dashboards = new WidgetTracker<MainAreaWidget<IFrame>>({ namespace: 'strato-dashboards' });
    commands.addCommand(CommandIDs.dashboard, {
      label: args => `Strato: ${DASHBOARDS.find(d => d.view === args.view)?.label ?? 'dashboard'}`,
      execute: async args => {
        const view = String(args.view ?? 'tasks');
        const picked = args.cluster ? null : pickCluster(model.clusters, kernelId());
        const cluster = String(args.cluster ?? picked?.id ?? '');
        const address = String(args.address ?? picked?.address ?? cluster);
        if (!cluster) {
          void showErrorMessage('No cluster', 'Open a dashboard from a cluster in the Strato sidebar.');
          return;
        }
        const id = `strato-dashboard-${cluster}-${view}`;
        const open = dashboards.find(w => w.id === id);
        if (open) {
          shell.activateById(open.id);
          return;
        }
        const widget = createDashboard(cluster, view, address);
        void dashboards.add(widget);
        shell.add(widget, 'main', { mode: 'split-right' });
        shell.activateById(widget.id);
      }
    });

    commands.addCommand(CommandIDs.insert, {
      label: 'Strato: insert %cluster connect into the notebook',
      execute: async args => {
        const address = String(args.address ?? pickCluster(model.clusters, kernelId())?.address ?? '');
        const panel = notebooks.currentWidget;
        if (!panel) {
          void showErrorMessage('No notebook', 'Open a notebook first: the cell goes into the active notebook.');
          return;
        }
        if (!address) {
          void showErrorMessage('Which cluster?', 'Start a cluster or pick one in the Strato sidebar.');
          return;
        }
        await panel.context.ready; // a notebook still loading would drop the cell when its content arrives
        NotebookActions.insertBelow(panel.content);
        panel.content.activeCell?.model.sharedModel.setSource(connectCode(address));
        shell.activateById(panel.id);
      }
    });

    commands.addCommand(CommandIDs.start, {
      label: 'Strato: start a local cluster',
      execute: async () => {
        await startWithMessage();
        await model.refresh();
      }
    });

    let defaultAddress = '';
    commands.addCommand(CommandIDs.connect, {
      label: 'Strato: connect to a cluster by address',
      execute: async () => {
        await connectDialog(defaultAddress);
        await model.refresh();
      }
    });

    commands.addCommand(CommandIDs.toggle, {
      label: 'Strato: show the clusters',
      execute: () => shell.activateById(sidebar.id)
    });

    if (palette) {
      for (const command of [CommandIDs.insert, CommandIDs.start, CommandIDs.connect, CommandIDs.toggle]) {
        palette.addItem({ command, category: 'Strato' });
      }
    }

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings) => {
        model.interval = (settings.get('refreshInterval').composite as number) ?? DEFAULT_INTERVAL_MS;
        defaultAddress = (settings.get('defaultAddress').composite as string) ?? '';
        const tokenFile = (settings.get('defaultTokenFile').composite as string) ?? '';
        if (defaultAddress && !model.clusters.some(c => c.address === defaultAddress)) {
          connectCluster(defaultAddress, tokenFile || undefined)
            .then(() => model.refresh())
            .catch(error => console.warn(`Strato: could not add ${defaultAddress}: ${error}`));
        }
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(error => console.warn(`Strato: settings not loaded: ${error}`));
    }
  }
};

export default plugin;
