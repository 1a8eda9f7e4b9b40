/**
 * The status-bar item: the cluster the active kernel drives (or the only one running):
 * nodes, CPUs busy / total, object-store use. Clicking it opens the sidebar.
 */
import { Widget } from '@lumino/widgets';

import { ICluster, fmtBytes, fmtNum, totals } from './api';
import { ClusterModel } from './model';

/** The cluster to show: the one the kernel `kernelId` is a driver of, else the only running one. */
export function pickCluster(clusters: ICluster[], kernelId: string | null): ICluster | null {
  if (kernelId) {
    const mine = clusters.find(c => (c.kernels ?? []).includes(kernelId));
    if (mine) {
      return mine;
    }
  }
  const running = clusters.filter(c => c.status === 'running');
  return running.length === 1 ? running[0] : null;
}

export class StratoStatus extends Widget {
  constructor(model: ClusterModel, kernelId: () => string | null, onClick: () => void) {
    super();
    this.addClass('strato-status-item');
    this.addClass('jp-StatusBar-TextItem');
    this.node.title = 'Strato: click to show the clusters';
    this._model = model;
    this._kernelId = kernelId;
    this.node.onclick = onClick;
    model.changed.connect(this.update, this);
    this.update();
  }

  update(): void {
    const clusters = this._model.clusters;
    const c = pickCluster(clusters, this._kernelId());
    if (!c) {
      this.node.textContent = clusters.length ? `Strato: ${clusters.length} clusters` : 'Strato: no cluster';
      return;
    }
    const nodes = (c.summary?.cluster.nodes ?? []).filter(n => n.state === 'ALIVE');
    const [busy, cpus] = totals(c.summary, 'CPU');
    let store = 0;
    let capacity = 0;
    for (const n of nodes) {
      store += n.object_store?.used ?? 0;
      capacity += n.object_store?.capacity ?? 0;
    }
    this.node.textContent =
      `Strato ${c.address} · ${nodes.length} node${nodes.length === 1 ? '' : 's'} · ` +
      `CPU ${fmtNum(busy)}/${fmtNum(cpus)} · store ${fmtBytes(store)}` +
      (capacity ? ` (${((100 * store) / capacity).toFixed(0)}%)` : '');
    this.node.dataset.address = c.address;
  }

  private _model: ClusterModel;
  private _kernelId: () => string | null;
}
