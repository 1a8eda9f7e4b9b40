/**
 * A dashboard tab: an iframe on /strato/dashboards/ID/VIEW, a Bokeh server document drawn by the
 * same figure code as strato.widgets (strato/server_extension/dashboards.py), no kernel involved.
 */
import { IFrame, MainAreaWidget } from '@jupyterlab/apputils';

import { DASHBOARDS, dashboardUrl } from './api';

export function createDashboard(clusterId: string, view: string, address: string): MainAreaWidget<IFrame> {
  const content = new IFrame({ sandbox: ['allow-scripts', 'allow-same-origin'] });
  content.url = dashboardUrl(clusterId, view);
  content.addClass('strato-dashboard-frame');
  const widget = new MainAreaWidget({ content });
  const label = DASHBOARDS.find(d => d.view === view)?.label ?? view;
  widget.id = `strato-dashboard-${clusterId}-${view}`;
  widget.title.label = `${label} · ${address}`;
  widget.title.closable = true;
  widget.addClass('strato-dashboard');
  widget.node.dataset.view = view;
  return widget;
}
