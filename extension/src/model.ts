/**
 * ClusterModel: one poll of /strato/api/clusters shared by the sidebar and the status bar.
 *
 * Polling uses @lumino/polling's Poll: it backs off while requests fail
 * (the interval doubles with each failure, up to a minute; the first answer
 * brings it back), stands by while the browser tab is hidden,
 * runs 5x slower while the sidebar is hidden (only the status bar needs the
 * numbers then), and stands by altogether while neither is on screen. It keeps, per cluster, a short history of finished-task
 * counts for the sidebar's throughput sparkline.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { ICluster, listClusters } from './api';

export const HISTORY = 60;
export const SLOW_FACTOR = 5;
export const MAX_INTERVAL_MS = 60 * 1000;

export class ClusterModel {
  constructor(interval: number) {
    this._interval = interval;
    this._poll = new Poll({
      auto: true,
      factory: () => this._refresh(),
      frequency: { interval: interval * SLOW_FACTOR, backoff: false, max: MAX_INTERVAL_MS },
      name: 'strato:clusters',
      standby: () => (this.watched() ? 'when-hidden' : true)
    });
  }

  /** Whether anything shows the clusters right now (set by the plugin). */
  watched: () => boolean = () => true;

  get clusters(): ICluster[] {
    return this._clusters;
  }

  get error(): string {
    return this._error;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Finished tasks per second over the last polls of cluster `id`. */
  throughput(id: string): number[] {
    const h = this._history.get(id) ?? [];
    const out: number[] = [];
    for (let i = 1; i < h.length; i++) {
      const dt = h[i][0] - h[i - 1][0];
      out.push(dt > 0 ? Math.max(0, h[i][1] - h[i - 1][1]) / dt : 0);
    }
    return out;
  }

  set interval(ms: number) {
    this._interval = Math.max(250, ms);
    this._schedule();
  }

  /** The sidebar shows everything; without it only the status bar needs the numbers: poll 5x slower. */
  set detailed(on: boolean) {
    if (on !== this._detailed) {
      this._detailed = on;
      this._schedule();
    }
  }

  private _schedule(): void {
    const base = this._detailed ? this._interval : this._interval * SLOW_FACTOR;
    const interval = Math.min(MAX_INTERVAL_MS, base * 2 ** Math.min(this._failures, 16));
    if (interval !== this._poll.frequency.interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  /** Poll now (after an action), whatever the schedule. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
  }

  private async _refresh(): Promise<void> {
    try {
      const { clusters } = await listClusters();
      this._clusters = clusters;
      this._error = '';
      if (this._failures) {
        this._failures = 0;
        this._schedule();
      }
      for (const c of clusters) {
        if (!c.summary) {
          continue;
        }
        const counts = c.summary.cluster.task_counts;
        const done = (counts['FINISHED'] ?? 0) + (counts['FAILED'] ?? 0);
        const h = this._history.get(c.id) ?? [];
        h.push([c.summary.cluster.time, done]);
        this._history.set(c.id, h.slice(-HISTORY));
      }
    } catch (error) {
      this._error = `${error}`;
      this._failures++;
      this._schedule(); // back off
      this._changed.emit();
      return;
    }
    this._changed.emit();
  }

  private _poll: Poll;
  private _interval: number;
  private _detailed = false;
  private _failures = 0;
  private _clusters: ICluster[] = [];
  private _error = '';
  private _history = new Map<string, Array<[number, number]>>();
  private _changed = new Signal<this, void>(this);
}
