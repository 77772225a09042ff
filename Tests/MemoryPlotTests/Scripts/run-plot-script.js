// Runs the script of an HTML plot in Node against a minimal stand-in for the DOM: hover read-out, drag to zoom,
// double-click to reset. Usage: node run-plot-script.js plot.html
const fs = require('fs');
const html = fs.readFileSync(process.argv[2], 'utf8');
const data = html.match(/id="plot-data">([^<]*)</)[1];
const script = html.match(/<script>\n([\s\S]*)<\/script>/)[1];
function el(tag, classes = []) { return { tag, attrs: {}, style: {}, children: [], dataset: {}, textContent: '',
  classList: { contains: name => classes.includes(name) },
  setAttribute(k, v) { this.attrs[k] = v; }, getAttribute(k) { return this.attrs[k]; },
  appendChild(c) { this.children.push(c); return c; }, insertBefore(c) { this.children.unshift(c); return c; },
  remove() {}, querySelectorAll() { return []; }, addEventListener(t, f) { (this.listeners ||= {})[t] = f; } }; }
const svg = el('svg');
Object.assign(svg.dataset, { left: '72', right: '936', top: '48', bottom: '484', t0: '0', t1: '3', m0: '0', m1: '300' });
svg.viewBox = { baseVal: { width: 960, height: 540 } };
svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 960, height: 540 });
const curve = el('polyline'); curve.dataset.series = '0';
const axis = el('g'); axis.querySelectorAll = () => [];
const grid = el('g');
const readout = el('div');
const bracket = el('path', ['bracket-start']); Object.assign(bracket.dataset, { t: '1', m: '50' });
const label = el('text'); label.dataset.t = '1';
const box = el('rect'); Object.assign(box.dataset, { t0: '0.5', t1: '2.5' });
const peakLine = el('line'); peakLine.dataset.t = '2';
const marks = { '.bracket-start, .bracket-end': [bracket], '.call-label': [label], '.flame-label': [],
  '.flame-box': [box], '.peak-time': [peakLine] };
global.document = {
  getElementById: id => ({ plot: svg, 'plot-data': { textContent: data }, readout, 'x-axis': axis })[id],
  createElementNS: (ns, tag) => el(tag),
  querySelectorAll: sel => sel === 'polyline.curve' ? [curve] : (marks[sel] || []),
  querySelector: sel => grid,
};
global.window = { addEventListener(t, f) { (this.listeners ||= {})[t] = f; } };
eval(script);
svg.listeners.mousemove({ clientX: 500, clientY: 200 });
if (!readout.textContent.includes('MiB')) throw new Error('no readout: ' + readout.textContent);
svg.listeners.mousedown({ clientX: 300, clientY: 200 });
window.listeners.mouseup({ clientX: 600, clientY: 200 });
if (!curve.attrs.points || axis.children.length === 0) throw new Error('zoom did not redraw');
if (!bracket.attrs.d || label.attrs.x === undefined || box.attrs.width === undefined || peakLine.attrs.x1 === undefined) {
  throw new Error('zoom did not move the marks');
}
svg.listeners.dblclick();
console.log('JS-OK', readout.textContent);
