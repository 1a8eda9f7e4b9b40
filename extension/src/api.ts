/**
 * The server extension's REST API (strato/server_extension/handlers.py), as typed calls.
 *
 * Every call goes through ServerConnection, so it carries Jupyter's token or
 * cookie and the _xsrf header; the cluster token never reaches the browser.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface INodeStore {
  capacity: number;
  used: number;
  primary_bytes?: number;
  secondary_bytes?: number;
  spilled_bytes?: number;
  num_objects?: number;
}

export interface INode {
  node_id: string;
  node_ip: string;
  is_head_node: boolean;
  state: string;
  resources_total: { [key: string]: number };
  resources_available: { [key: string]: number };
  object_store?: INodeStore;
}

export interface IActor {
  actor_id: string;
  class_name: string;
  state: string;
  name: string;
  node_id: string | null;
  num_restarts: number;
}

export interface ISummary {
  cluster: {
    time: number;
    nodes: INode[];
    task_counts: { [state: string]: number };
    num_actors: number;
  };
  actors: IActor[];
  tune_runs: Array<{ [key: string]: any }> | null;
}

export interface ICluster {
  id: string;
  address: string;
  kind: 'detached' | 'embedded' | 'added';
  status: 'running' | 'unreachable';
  tls: boolean;
  can_stop: boolean;
  can_remove: boolean;
  kernels?: string[];
  error?: string;
  summary?: ISummary;
}

/** A dashboard view served by the server extension (strato/server_extension/dashboards.py). */
export const DASHBOARDS: Array<{ view: string; label: string }> = [
  { view: 'tasks', label: 'Task graph' },
  { view: 'timeline', label: 'Timeline' },
  { view: 'store', label: 'Object store' },
  { view: 'actors', label: 'Actors' },
  { view: 'tune', label: 'Tuning trials' }
];

export class ApiError extends Error {}

export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'strato', 'api', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(`The Jupyter server did not answer: ${error}`);
  }
  const text = await response.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    throw new ApiError(data.message || `HTTP ${response.status}`);
  }
  return data as T;
}

export function dashboardUrl(clusterId: string, view: string): string {
  const settings = ServerConnection.makeSettings();
  return URLExt.join(settings.baseUrl, 'strato', 'dashboards', clusterId, view);
}

export function listClusters(): Promise<{ clusters: ICluster[] }> {
  return requestAPI('clusters');
}

export function startCluster(numCpus?: number): Promise<ICluster> {
  const body = numCpus ? { num_cpus: numCpus } : {};
  return requestAPI('clusters', { method: 'POST', body: JSON.stringify(body) });
}

export function connectCluster(address: string, tokenFile?: string): Promise<ICluster> {
  const body: any = { address };
  if (tokenFile) {
    body.token_file = tokenFile;
  }
  return requestAPI('clusters/connect', { method: 'POST', body: JSON.stringify(body) });
}

export function stopCluster(id: string): Promise<any> {
  return requestAPI(`clusters/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Used / total of one resource over the live nodes. */
export function totals(summary: ISummary | undefined, key: string): [number, number] {
  let used = 0;
  let total = 0;
  for (const n of summary?.cluster.nodes ?? []) {
    if (n.state !== 'ALIVE') {
      continue;
    }
    const t = n.resources_total[key] ?? 0;
    total += t;
    used += Math.max(0, t - (n.resources_available[key] ?? 0));
  }
  return [used, total];
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n.toFixed(0)} B` : `${n.toFixed(1)} ${units[i]}`;
}

export function fmtNum(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
