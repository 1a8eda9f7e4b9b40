/** A small SVG sparkline (the sidebar's task throughput). */
const SVG = 'http://www.w3.org/2000/svg';

export function sparkline(values: number[], width = 120, height = 24): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'strato-sparkline');
  const max = Math.max(1e-9, ...values);
  const n = Math.max(2, values.length);
  const points = values.map((v, i) => {
    const x = (i / (n - 1)) * (width - 2) + 1;
    const y = height - 1 - (v / max) * (height - 2);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'var(--jp-brand-color1)');
  line.setAttribute('stroke-width', '1.5');
  svg.appendChild(line);
  return svg;
}
