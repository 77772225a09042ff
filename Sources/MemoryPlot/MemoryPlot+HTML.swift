import MemoryProfiler
import MemoryProfilerSystem

extension MemoryPlot {
    /// The plot as one self-contained HTML page: the SVG, a read-out of time, memory and function under the
    /// pointer, and zoom on the time axis (drag to zoom, double-click to reset). No network access is needed.
    public func html() -> String {
        let layout = Layout(plot: self)
        var writer = SVGWriter(
            width: options.width, height: options.height,
            attributes: [
                ("id", "plot"), ("data-left", SVGWriter.number(layout.left)), ("data-right", SVGWriter.number(layout.right)),
                ("data-top", SVGWriter.number(layout.top)), ("data-bottom", SVGWriter.number(layout.bottom)),
                ("data-t0", String(timeDomain.lowerBound)), ("data-t1", String(timeDomain.upperBound)),
                ("data-m0", String(memoryDomain.lowerBound)), ("data-m1", String(memoryDomain.upperBound)),
            ])
        drawSVG(into: &writer, layout: layout)
        var svg = writer.finish()
        if let declarationEnd = svg.firstIndex(of: "\n") { svg = String(svg[svg.index(after: declarationEnd)...]) }

        var data = "{\"series\":["
        for (index, series) in series.enumerated() {
            if index > 0 { data += "," }
            let points = Self.reduced(series.points, scale: LinearScale(domain: timeDomain, range: 0...4000))
            data += "{\"label\":\(JSONText.string(series.label, forHTML: true)),\"t\":["
            data += points.map { DecimalFormat.fixed($0.time, decimals: 4) }.joined(separator: ",")
            data += "],\"m\":["
            data += points.map { DecimalFormat.fixed($0.mebibytes, decimals: 3) }.joined(separator: ",")
            data += "]}"
        }
        data += "],\"calls\":["
        data += calls.map { call in
            "{\"name\":\(JSONText.string(call.name, forHTML: true)),\"start\":\(DecimalFormat.fixed(call.start.time, decimals: 4)),"
                + "\"end\":\(DecimalFormat.fixed(call.end.time, decimals: 4)),\"level\":\(call.level)}"
        }.joined(separator: ",")
        data += "]}"

        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(SVGWriter.escaped(title))</title>
            <style>
            body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 16px; color: #222; }
            #readout { height: 1.4em; font-size: 13px; margin: 6px 0 0 72px; white-space: pre; }
            #hint { font-size: 12px; color: #777; margin-left: 72px; }
            svg { user-select: none; }
            .cursor { stroke: #888; stroke-width: 1; }
            .selection { fill: #1f77b4; fill-opacity: 0.12; }
            </style>
            </head>
            <body>
            \(svg)
            <div id="readout"></div>
            <div id="hint">Drag across the plot to zoom in on a stretch of time; double-click to see it all again.</div>
            <script type="application/json" id="plot-data">\(data)</script>
            <script>
            \(Self.script)
            </script>
            </body>
            </html>

            """
    }

    /// Hover read-out and time-axis zoom: redraws the curves and ticks of the visible window from the data.
    static let script = #"""
        (function () {
          const svg = document.getElementById('plot');
          const data = JSON.parse(document.getElementById('plot-data').textContent);
          const ns = 'http://www.w3.org/2000/svg';
          const left = +svg.dataset.left, right = +svg.dataset.right, top = +svg.dataset.top, bottom = +svg.dataset.bottom;
          const full = [+svg.dataset.t0, +svg.dataset.t1];
          const m0 = +svg.dataset.m0, m1 = +svg.dataset.m1;
          let view = full.slice();
          const readout = document.getElementById('readout');
          const xOf = t => left + (t - view[0]) / (view[1] - view[0]) * (right - left);
          const tOf = x => view[0] + (x - left) / (right - left) * (view[1] - view[0]);
          const yOf = m => bottom - (m - m0) / (m1 - m0) * (bottom - top);
          const point = event => {
            const box = svg.getBoundingClientRect();
            return [(event.clientX - box.left) * (svg.viewBox.baseVal.width / box.width),
                    (event.clientY - box.top) * (svg.viewBox.baseVal.height / box.height)];
          };
          const niceStep = span => {
            const raw = span / 8; let mag = Math.pow(10, Math.floor(Math.log10(raw))); const f = raw / mag;
            return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
          };
          function redraw() {
            document.querySelectorAll('polyline.curve').forEach(line => {
              const s = data.series[+line.dataset.series]; if (!s) return;
              const pts = [];
              for (let i = 0; i < s.t.length; i++) {
                if (s.t[i] < view[0] - (view[1] - view[0]) || s.t[i] > view[1] + (view[1] - view[0])) continue;
                pts.push(xOf(s.t[i]).toFixed(1) + ',' + yOf(s.m[i]).toFixed(1));
              }
              line.setAttribute('points', pts.join(' '));
            });
            const zoomed = view[0] !== full[0] || view[1] !== full[1];
            // The envelope and trend line are drawn for the whole time line only; marks follow the zoom.
            document.querySelectorAll('.envelope, .slope').forEach(e => e.style.display = zoomed ? 'none' : '');
            document.querySelectorAll('.bracket-start, .bracket-end').forEach(e => {
              const x = xOf(+e.dataset.t), y = yOf(+e.dataset.m), w = e.classList.contains('bracket-start') ? 5 : -5;
              e.setAttribute('d', 'M' + (x + w) + ' ' + (y - 7) + 'H' + x + 'V' + (y + 7) + 'H' + (x + w));
            });
            document.querySelectorAll('.call-label').forEach(e => e.setAttribute('x', xOf(+e.dataset.t) + 2));
            document.querySelectorAll('.flame-label').forEach(e => e.setAttribute('x', Math.max(left, xOf(+e.dataset.t)) + 4));
            document.querySelectorAll('.flame-box').forEach(e => {
              const x0 = Math.max(left - 1, xOf(+e.dataset.t0)), x1 = Math.min(right + 1, xOf(+e.dataset.t1));
              e.setAttribute('x', x0); e.setAttribute('width', Math.max(1, x1 - x0));
            });
            document.querySelectorAll('.peak-time').forEach(e => {
              const x = xOf(+e.dataset.t); e.setAttribute('x1', x); e.setAttribute('x2', x);
              e.style.display = x < left || x > right ? 'none' : '';
            });
            const axis = document.getElementById('x-axis');
            axis.querySelectorAll('.tick-label').forEach(e => e.remove());
            const grid = document.querySelector('.grid');
            grid.querySelectorAll('line.vertical').forEach(e => e.remove());
            const step = niceStep(view[1] - view[0]);
            const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
            for (let t = Math.ceil(view[0] / step) * step; t <= view[1] + step * 1e-9; t += step) {
              const label = document.createElementNS(ns, 'text');
              label.setAttribute('x', xOf(t)); label.setAttribute('y', bottom + 18);
              label.setAttribute('class', 'tick-label'); label.textContent = t.toFixed(decimals);
              axis.insertBefore(label, axis.firstChild);
              const line = document.createElementNS(ns, 'line');
              line.setAttribute('class', 'vertical'); line.setAttribute('x1', xOf(t)); line.setAttribute('x2', xOf(t));
              line.setAttribute('y1', top); line.setAttribute('y2', bottom); grid.appendChild(line);
            }
          }
          let cursor = document.createElementNS(ns, 'line'); cursor.setAttribute('class', 'cursor');
          cursor.setAttribute('y1', top); cursor.setAttribute('y2', bottom); cursor.style.display = 'none'; svg.appendChild(cursor);
          let selection = document.createElementNS(ns, 'rect'); selection.setAttribute('class', 'selection');
          selection.setAttribute('y', top); selection.setAttribute('height', bottom - top); selection.style.display = 'none'; svg.appendChild(selection);
          let dragStart = null;
          svg.addEventListener('mousemove', event => {
            const [x] = point(event);
            if (x < left || x > right) { cursor.style.display = 'none'; readout.textContent = ''; return; }
            const t = tOf(x);
            cursor.setAttribute('x1', x); cursor.setAttribute('x2', x); cursor.style.display = '';
            const parts = ['t = ' + t.toFixed(3) + ' s'];
            data.series.forEach(s => {
              let lo = 0, hi = s.t.length - 1;
              if (hi < 0) return;
              while (lo < hi) { const mid = (lo + hi) >> 1; if (s.t[mid] < t) lo = mid + 1; else hi = mid; }
              if (lo > 0 && Math.abs(s.t[lo - 1] - t) < Math.abs(s.t[lo] - t)) lo -= 1;
              parts.push(s.label + ': ' + s.m[lo].toFixed(1) + ' MiB');
            });
            const inside = data.calls.filter(c => c.start <= t && t <= c.end).sort((a, b) => b.level - a.level);
            if (inside.length) parts.push('in ' + inside.map(c => c.name).join(' < '));
            readout.textContent = parts.join('   ');
            if (dragStart !== null) {
              selection.setAttribute('x', Math.min(dragStart, x)); selection.setAttribute('width', Math.abs(x - dragStart));
              selection.style.display = '';
            }
          });
          svg.addEventListener('mousedown', event => { const [x] = point(event); if (x >= left && x <= right) dragStart = x; });
          window.addEventListener('mouseup', event => {
            if (dragStart === null) return;
            const [x] = point(event);
            const a = tOf(Math.max(left, Math.min(dragStart, x))), b = tOf(Math.min(right, Math.max(dragStart, x)));
            dragStart = null; selection.style.display = 'none';
            if (b - a > (view[1] - view[0]) / 200) { view = [a, b]; redraw(); }
          });
          svg.addEventListener('dblclick', () => { view = full.slice(); redraw(); });
        })();
        """#
}
