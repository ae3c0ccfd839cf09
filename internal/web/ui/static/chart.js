// A small line chart drawn into an <svg>, without a library.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * niceMax rounds v up to 1, 2 or 5 times a power of ten (at least 1), so
 * that the chart's scale changes in readable steps.
 */
export function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

/**
 * drawChart draws values (oldest first, at most slots of them, the newest
 * at the right edge) into svg, whose viewBox sets the drawing size. It
 * returns the top of the scale.
 */
export function drawChart(svg, values, slots) {
  const { width: w, height: h } = svg.viewBox.baseVal;
  const top = niceMax(Math.max(0, ...values));
  const pad = 4;
  const x = (i) => w - (values.length - 1 - i) * (w / (slots - 1));
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);

  const children = [];
  for (const f of [0, 0.5, 1]) {
    const line = document.createElementNS(SVG, 'line');
    setAttrs(line, { x1: 0, x2: w, y1: y(f * top), y2: y(f * top), class: 'grid', 'vector-effect': 'non-scaling-stroke' });
    children.push(line);
  }
  if (values.length > 0) {
    const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    const area = document.createElementNS(SVG, 'path');
    setAttrs(area, { d: `M${x(0).toFixed(1)},${y(0)} L${pts.join(' L')} L${w},${y(0)} Z`, class: 'area' });
    const line = document.createElementNS(SVG, 'polyline');
    setAttrs(line, { points: pts.join(' '), class: 'line', 'vector-effect': 'non-scaling-stroke' });
    children.push(area, line);
  }
  svg.replaceChildren(...children);
  return top;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
}
