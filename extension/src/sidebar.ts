/**
 * The Strato sidebar: every cluster of this user, what it runs, and actions on it.
 *
 * Per cluster: address, status, nodes with CPU / GPU / memory bars, tasks by
 * state with a throughput sparkline, an object-store gauge per node, actors,
 * tuning runs. Actions: start a detached cluster, connect by address, stop
 * (or forget) one, copy its address, insert `%cluster connect ADDR` into the
 * active notebook (button, or drag the card onto a notebook), open a
 * dashboard tab. Rendering is plain DOM, redrawn when the model changes.
 */
import { Clipboard, Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { MimeData } from '@lumino/coreutils';
import { Drag } from '@lumino/dragdrop';
import { Widget } from '@lumino/widgets';
import { CommandRegistry } from '@lumino/commands';

import { DASHBOARDS, ICluster, INode, connectCluster, fmtBytes, fmtNum, startCluster, stopCluster } from './api';
import { ClusterModel } from './model';
import { sparkline } from './sparkline';

export const CELL_MIME = 'application/vnd.jupyter.cells';
export const CommandIDs = {
  insert: 'strato:insert-connect',
  dashboard: 'strato:open-dashboard',
  start: 'strato:start-cluster',
  connect: 'strato:connect-cluster',
  toggle: 'strato:show-sidebar'
};

/** The cell the insert command and the drag write. */
export function connectCode(address: string): string {
  return `%load_ext strato\n%cluster connect ${address}`;
}

const STATE_ORDER = ['PENDING', 'SUBMITTED', 'PENDING_ARGS', 'LEASED', 'RUNNING', 'FINISHED', 'FAILED'];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  if (text) {
    e.textContent = text;
  }
  return e;
}

function bar(label: string, used: number, total: number, fmt: (n: number) => string, key: string): HTMLElement {
  const row = el('div', 'strato-bar-row');
  row.dataset.resource = key;
  row.appendChild(el('span', 'strato-bar-label', label));
  const track = el('div', 'strato-bar');
  const fill = el('div', 'strato-bar-fill');
  const frac = total > 0 ? Math.min(1, used / total) : 0;
  fill.style.width = `${(frac * 100).toFixed(1)}%`;
  if (frac > 0.9) {
    fill.classList.add('strato-bar-hot');
  }
  track.appendChild(fill);
  row.appendChild(track);
  row.appendChild(el('span', 'strato-bar-text', `${fmt(used)} / ${fmt(total)}`));
  return row;
}

export class StratoSidebar extends Widget {
  constructor(model: ClusterModel, commands: CommandRegistry) {
    super();
    this.id = 'strato-sidebar';
    this.addClass('strato-sidebar');
    this.title.caption = 'Strato clusters';
    this._model = model;
    this._commands = commands;
    const header = el('div', 'strato-header');
    header.appendChild(el('span', 'strato-title', 'Strato clusters'));
    const start = el('button', 'jp-mod-styled jp-mod-accept strato-start', 'Start cluster');
    start.onclick = () => void this._commands.execute(CommandIDs.start);
    const connect = el('button', 'jp-mod-styled strato-connect', 'Connect…');
    connect.onclick = () => void this._commands.execute(CommandIDs.connect);
    header.append(start, connect);
    this._status = el('div', 'strato-message');
    this._list = el('div', 'strato-clusters');
    this.node.append(header, this._status, this._list);
    model.changed.connect(this._render, this);
    this.node.addEventListener('mousedown', () => (this._pressed = true), true);
    document.addEventListener(
      'mouseup',
      () => {
        if (this._pressed) {
          this._pressed = false;
          if (this._stale) {
            this._stale = false;
            setTimeout(() => this._render(), 0);
          }
        }
      },
      true
    );
  }

  private _render(): void {
    if (!this.isVisible) {
      return;
    }
    if (this._pressed) {
      this._stale = true; // a button is being clicked: redraw after the click, not under it
      return;
    }
    const clusters = this._model.clusters;
    const key = JSON.stringify([
      this._model.error,
      clusters.map(c => ({ ...c, summary: c.summary ? { ...c.summary, cluster: { ...c.summary.cluster, time: 0 } } : null })),
      clusters.map(c => this._model.throughput(c.id).map(v => v.toFixed(1)))
    ]);
    if (key === this._shown) {
      return; // nothing that is drawn changed
    }
    this._shown = key;
    this._status.textContent = this._model.error
      ? `Cannot list clusters: ${this._model.error}`
      : clusters.length === 0
        ? 'No cluster is running. Start one here, with `strato start --head`, or with %cluster connect in a notebook.'
        : '';
    this._list.replaceChildren(...clusters.map(c => this._card(c)));
  }

  protected onAfterHide(): void {
    this._model.detailed = false;
  }

  protected onAfterShow(): void {
    this._model.detailed = true;
    this._shown = '';
    this._render();
    void this._model.refresh();
  }

  private _card(c: ICluster): HTMLElement {
    const card = el('div', 'strato-cluster');
    card.dataset.clusterId = c.id;
    card.dataset.address = c.address;
    card.title = 'Drag onto a notebook to insert %cluster connect';
    const head = el('div', 'strato-cluster-head');
    head.appendChild(el('span', 'strato-address', c.address));
    head.appendChild(el('span', `strato-status strato-status-${c.status}`, c.status));
    head.appendChild(el('span', 'strato-kind', c.kind));
    card.appendChild(head);

    const actions = el('div', 'strato-actions');
    const button = (label: string, title: string, cls: string, fn: () => void) => {
      const b = el('button', `jp-mod-styled strato-action ${cls}`, label);
      b.title = title;
      b.onclick = (e: MouseEvent) => {
        e.stopPropagation();
        fn();
      };
      actions.appendChild(b);
    };
    button('Copy address', 'Copy the address to the clipboard', 'strato-copy', () =>
      Clipboard.copyToSystem(c.address)
    );
    button('Insert connect', 'Insert %cluster connect into the active notebook', 'strato-insert', () =>
      void this._commands.execute(CommandIDs.insert, { address: c.address })
    );
    if (c.can_stop || c.can_remove) {
      button(c.can_stop ? 'Stop' : 'Forget', c.can_stop ? 'Stop this cluster' : 'Remove from the list', 'strato-stop', () =>
        void this._stop(c)
      );
    }
    card.appendChild(actions);
    const dashboards = el('div', 'strato-dashboards');
    for (const d of DASHBOARDS) {
      const b = el('button', 'jp-mod-styled strato-dashboard-button', d.label);
      b.dataset.view = d.view;
      b.onclick = e => {
        e.stopPropagation();
        void this._commands.execute(CommandIDs.dashboard, { cluster: c.id, view: d.view, address: c.address });
      };
      dashboards.appendChild(b);
    }
    card.appendChild(dashboards);

    if (c.error) {
      card.appendChild(el('div', 'strato-error', c.error));
    }
    const s = c.summary;
    if (s) {
      card.appendChild(el('div', 'strato-section-title', `Nodes (${s.cluster.nodes.length})`));
      for (const n of s.cluster.nodes) {
        card.appendChild(this._node(n));
      }
      card.appendChild(el('div', 'strato-section-title', 'Tasks'));
      const tasks = el('div', 'strato-tasks');
      const counts = s.cluster.task_counts;
      const states = Object.keys(counts).sort((a, b) => STATE_ORDER.indexOf(a) - STATE_ORDER.indexOf(b));
      for (const st of states) {
        const chip = el('span', `strato-chip strato-state-${st.toLowerCase()}`, `${st} ${counts[st]}`);
        chip.dataset.state = st;
        chip.dataset.count = String(counts[st]);
        tasks.appendChild(chip);
      }
      if (states.length === 0) {
        tasks.appendChild(el('span', 'strato-none', 'none yet'));
      }
      card.appendChild(tasks);
      const rate = this._model.throughput(c.id);
      const spark = el('div', 'strato-throughput');
      spark.appendChild(sparkline(rate));
      spark.appendChild(el('span', 'strato-rate', `${fmtNum(rate.length ? rate[rate.length - 1] : 0)} tasks/s`));
      card.appendChild(spark);

      card.appendChild(el('div', 'strato-section-title', 'Object store'));
      for (const n of s.cluster.nodes) {
        if (n.object_store && n.state === 'ALIVE') {
          const g = bar(n.node_id.slice(0, 8), n.object_store.used, n.object_store.capacity, fmtBytes, 'store');
          g.classList.add('strato-gauge');
          card.appendChild(g);
        }
      }
      card.appendChild(el('div', 'strato-section-title', `Actors (${s.actors.length})`));
      const actors = el('ul', 'strato-actors');
      for (const a of s.actors.slice(0, 20)) {
        const li = el('li', `strato-actor strato-state-${a.state.toLowerCase()}`,
          `${a.name || a.class_name} · ${a.state}` + (a.num_restarts ? ` · ${a.num_restarts} restarts` : ''));
        actors.appendChild(li);
      }
      card.appendChild(actors);
      const runs = s.tune_runs ?? [];
      card.appendChild(el('div', 'strato-section-title', `Tuning runs (${runs.length})`));
      const tune = el('ul', 'strato-tune-runs');
      for (const r of runs.slice(-10).reverse()) {
        const best = typeof r.best_metric === 'number' && r.metric ? ` · best ${r.metric} ${fmtNum(r.best_metric)}` : '';
        const li = el('li', 'strato-tune-run', `${r.name ?? r.id ?? 'run'} · ${r.status ?? ''} · ${r.num_trials ?? 0} trials${best}`);
        li.dataset.status = String(r.status ?? '');
        tune.appendChild(li);
      }
      card.appendChild(tune);
    }
    card.addEventListener('mousedown', e => this._dragStart(e, c));
    return card;
  }

  private _node(n: INode): HTMLElement {
    const box = el('div', 'strato-node');
    box.dataset.nodeId = n.node_id;
    box.appendChild(
      el('div', 'strato-node-title', `${n.node_id.slice(0, 12)} ${n.node_ip}${n.is_head_node ? ' (head)' : ''} · ${n.state}`)
    );
    const t = n.resources_total;
    const a = n.resources_available;
    const used = (k: string) => Math.max(0, (t[k] ?? 0) - (a[k] ?? 0));
    box.appendChild(bar('CPU', used('CPU'), t['CPU'] ?? 0, fmtNum, 'CPU'));
    if (t['GPU']) {
      box.appendChild(bar('GPU', used('GPU'), t['GPU'], fmtNum, 'GPU'));
    }
    if (t['memory']) {
      box.appendChild(bar('memory', used('memory'), t['memory'], fmtBytes, 'memory'));
    }
    return box;
  }

  private async _stop(c: ICluster): Promise<void> {
    const verb = c.can_stop ? 'Stop' : 'Forget';
    const answer = await showDialog({
      title: `${verb} the cluster at ${c.address}?`,
      body: c.can_stop ? 'Its daemons and workers end; objects in it are lost.' : 'It keeps running.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: verb })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await stopCluster(c.id);
    } catch (error) {
      void showErrorMessage(`${verb} failed`, `${error}`);
    }
    void this._model.refresh();
  }

  private _dragStart(event: MouseEvent, c: ICluster): void {
    if (event.button !== 0 || (event.target as HTMLElement).closest('button')) {
      return;
    }
    const x0 = event.clientX;
    const y0 = event.clientY;
    const move = (e: MouseEvent) => {
      if (Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0) < 6) {
        return;
      }
      cleanup();
      const mime = new MimeData();
      mime.setData(CELL_MIME, [{ cell_type: 'code', source: connectCode(c.address), metadata: {} }]);
      mime.setData('text/plain', connectCode(c.address));
      const image = el('div', 'strato-drag-image', `%cluster connect ${c.address}`);
      const drag = new Drag({ mimeData: mime, dragImage: image, supportedActions: 'copy', proposedAction: 'copy', source: this });
      void drag.start(e.clientX, e.clientY);
    };
    const cleanup = () => {
      document.removeEventListener('mousemove', move, true);
      document.removeEventListener('mouseup', cleanup, true);
    };
    document.addEventListener('mousemove', move, true);
    document.addEventListener('mouseup', cleanup, true);
  }

  private _model: ClusterModel;
  private _commands: CommandRegistry;
  private _shown = '';
  private _pressed = false;
  private _stale = false;
  private _status: HTMLElement;
  private _list: HTMLElement;
}

/** Ask for an address (and a token file when it was not started on this machine), then add it. */
export async function connectDialog(defaultAddress = ''): Promise<ICluster | null> {
  const body = new Widget();
  body.node.innerHTML =
    '<label>Address (HOST:PORT of the head)<br><input class="jp-mod-styled strato-input-address" style="width:100%"></label>' +
    '<br><label>Token file on the server (not needed for clusters started on this machine)<br>' +
    '<input class="jp-mod-styled strato-input-token" style="width:100%"></label>';
  (body.node.querySelector('.strato-input-address') as HTMLInputElement).value = defaultAddress;
  const answer = await showDialog({
    title: 'Connect to a Strato cluster',
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Connect' })]
  });
  if (!answer.button.accept) {
    return null;
  }
  const address = (body.node.querySelector('.strato-input-address') as HTMLInputElement).value.trim();
  const token = (body.node.querySelector('.strato-input-token') as HTMLInputElement).value.trim();
  try {
    return await connectCluster(address, token || undefined);
  } catch (error) {
    void showErrorMessage('Could not connect', `${error}`);
    return null;
  }
}

export async function startWithMessage(): Promise<ICluster | null> {
  try {
    return await startCluster();
  } catch (error) {
    void showErrorMessage('Could not start a cluster', `${error}`);
    return null;
  }
}
