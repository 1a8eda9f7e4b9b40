import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 17h18v2H3zM5 12h14v2H5zM8 7h8v2H8z"/>
  </g>
</svg>`;

export const stratoIcon = new LabIcon({ name: 'strato:icon', svgstr: svg });
