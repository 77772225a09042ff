import MemoryProfiler
import MemoryProfilerSystem

/// A flame graph of a heap profile's view: each frame a box as wide as the bytes (or allocations) allocated through
/// it, callers below (flame) or above (icicle) their callees; the Swift class of an instance as the last frame. As SVG,
/// or as one self-contained HTML page where a click zooms into a frame, a search box highlights the frames that match
/// and says their share, and the pointer shows a frame's bytes, allocations, share and `file:line`.
public struct HeapFlameGraph: Sendable {
    /// Which way the stacks grow.
    public enum Orientation: String, Sendable, CaseIterable {
        /// Callers at the bottom, as Brendan Gregg's flame graphs.
        case flame
        /// Callers at the top.
        case icicle
    }

    /// One frame in the tree: a function (or a type) on the path from the root.
    struct Node {
        var name: String
        var location: String
        var module: String
        var isType: Bool
        var value = 0
        var count = 0
        /// In a differential graph: the value before (the box's width is the value after).
        var before = 0
        var children: [String: Int] = [:]  // name → node index
        var order: [Int] = []
    }

    let title: String
    let unit: String
    let orientation: Orientation
    var nodes: [Node]
    let width: Double
    /// A differential graph: boxes as wide as after, red where a frame grew, blue where it shrank.
    private(set) var isDifferential = false

    static let rowHeight = 17.0
    static let top = 56.0
    static let bottomMargin = 24.0
    /// Boxes narrower than this (in pixels) are left out, with their callees: they could not be seen or clicked.
    static let narrowest = 0.3

    /// The tree of `view` in `profile`: values in bytes, or in allocations for ``HeapProfile/View/calls`` and
    /// ``HeapProfile/View/temporary``.
    public init(_ profile: HeapProfile, view: HeapProfile.View, orientation: Orientation = .flame, title: String, width: Double = 1200) {
        self.title = title
        self.orientation = orientation
        self.width = min(max(width, 300), 20_000)
        let byCount = view.isCounted
        unit = byCount ? "allocations" : "bytes"
        nodes = [Node(name: "all", location: "", module: "", isType: false)]
        for stack in profile.stacks(view) { add(stack, value: byCount ? stack.count : stack.bytes, after: true) }
        sortChildren()
    }

    /// A differential flame graph from `before` to `after`: boxes as wide as the view's value after, coloured by
    /// the change of each frame's value (red grew, blue shrank, white unchanged; full colour for the largest
    /// change); frames that vanished are not drawn (their change shows in their callers' colour).
    public init(
        before: HeapProfile, after: HeapProfile, view: HeapProfile.View, orientation: Orientation = .flame, title: String,
        width: Double = 1200
    ) {
        self.title = title
        self.orientation = orientation
        self.width = min(max(width, 300), 20_000)
        let byCount = view.isCounted
        unit = byCount ? "allocations" : "bytes"
        isDifferential = true
        nodes = [Node(name: "all", location: "", module: "", isType: false)]
        for stack in after.stacks(view) { add(stack, value: byCount ? stack.count : stack.bytes, after: true) }
        for stack in before.stacks(view) { add(stack, value: byCount ? stack.count : stack.bytes, after: false) }
        sortChildren()
    }

    /// Adds a stack's value to its path (after: the width; before: the comparison).
    private mutating func add(_ stack: HeapProfile.Stack, value: Int, after: Bool) {
        var current = 0
        var path = stack.frames.map { (name: $0.function, location: $0.location, module: $0.module, isType: false) }
        if let type = stack.typeName { path.append((name: type, location: "instances of \(type)", module: "", isType: true)) }
        func credit(_ index: Int) {
            if after {
                nodes[index].value += value
                nodes[index].count += stack.count
            } else {
                nodes[index].before += value
            }
        }
        credit(0)
        for frame in path {
            let child: Int
            if let existing = nodes[current].children[frame.name] {
                child = existing
            } else {
                child = nodes.count
                nodes.append(Node(name: frame.name, location: frame.location, module: frame.module, isType: frame.isType))
                nodes[current].children[frame.name] = child
                nodes[current].order.append(child)
            }
            credit(child)
            current = child
        }
    }

    /// Children widest first: the big consumers stand at the left.
    private mutating func sortChildren() {
        let values = nodes.map(\.value)
        for index in nodes.indices { nodes[index].order.sort { values[$0] > values[$1] } }
    }

    /// The total of the view: the root's value.
    public var total: Int { nodes[0].value }

    private struct Box {
        var node: Int
        var depth: Int
        var start: Int  // value offset from the left
    }

    private func boxes() -> (boxes: [Box], depth: Int) {
        var boxes: [Box] = []
        var deepest = 0
        let scale = total > 0 ? width / Double(total) : 0
        var stack: [Box] = [Box(node: 0, depth: 0, start: 0)]
        while let box = stack.popLast() {
            guard Double(nodes[box.node].value) * scale >= Self.narrowest || box.node == 0 else { continue }
            boxes.append(box)
            deepest = max(deepest, box.depth)
            var offset = box.start
            var children: [Box] = []
            for child in nodes[box.node].order {
                children.append(Box(node: child, depth: box.depth + 1, start: offset))
                offset += nodes[child].value
            }
            stack += children.reversed()
        }
        return (boxes, deepest)
    }

    /// A frame's colour: warm hues for functions, by module, so a module's frames look alike; blue for types.
    private func color(of node: Node) -> String {
        if isDifferential {
            let largest = max(1, nodes.dropFirst().map { abs($0.value - $0.before) }.max() ?? 1)
            let change = Double(node.value - node.before) / Double(largest)
            let fade = Int(255 - min(1, abs(change)) * 200)
            return change >= 0 ? "rgb(255,\(fade),\(fade))" : "rgb(\(fade),\(fade),255)"
        }
        if node.isType { return "#6fa8dc" }
        if node.name == "all" && node.module.isEmpty { return "#d0d0d0" }
        var hash: UInt32 = 2_166_136_261
        for byte in node.module.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let red = 205 + Int(hash % 50), green = 80 + Int((hash >> 8) % 120), blue = 40 + Int((hash >> 16) % 40)
        return "rgb(\(red),\(green),\(blue))"
    }

    private func amount(_ value: Int) -> String {
        unit == "bytes" ? MemorySize(bytes: value).formatted(precision: 1) : "\(value) allocations"
    }

    /// The flame graph as an SVG document (for the HTML page, the same with `id`s and no XML declaration).
    public func svg() -> String { render(forHTML: false) }

    private func render(forHTML: Bool) -> String {
        let (boxes, deepest) = boxes()
        let height = Self.top + Double(deepest + 1) * Self.rowHeight + Self.bottomMargin
        let scale = total > 0 ? width / Double(total) : 0
        let n = SVGWriter.number
        var svg = SVGWriter(
            width: width, height: height,
            attributes: [("id", "flame"), ("data-total", String(total)), ("data-unit", unit), ("data-width", n(width)),
                         ("data-orientation", orientation.rawValue), ("data-row", n(Self.rowHeight)), ("data-top", n(Self.top)),
                         ("data-rows", String(deepest + 1))])
        svg.element("rect", [("x", "0"), ("y", "0"), ("width", n(width)), ("height", n(height)), ("fill", "#fdfdfd")])
        svg.element("text", [("x", n(width / 2)), ("y", "22"), ("text-anchor", "middle"), ("font-size", "15")], content: title)
        svg.element(
            "text", [("x", n(width / 2)), ("y", "40"), ("text-anchor", "middle"), ("fill", "#555"), ("class", "subtitle")],
            content: "\(amount(total)) in all; box width: \(unit)")
        svg.open("g", [("class", "frames")])
        for box in boxes {
            let node = nodes[box.node]
            let x = Double(box.start) * scale, w = Double(node.value) * scale
            let row = orientation == .icicle ? Double(box.depth) : Double(deepest - box.depth)
            let y = Self.top + row * Self.rowHeight
            let share = total > 0 ? Double(node.value) / Double(total) * 100 : 0
            svg.open("g", [
                ("class", node.isType ? "frame type" : "frame"), ("data-name", node.name), ("data-value", String(node.value)),
                ("data-count", String(node.count)), ("data-start", String(box.start)), ("data-depth", String(box.depth)),
                ("data-location", node.location), ("data-module", node.module),
            ] + (isDifferential ? [("data-before", String(node.before)), ("data-change", String(node.value - node.before))] : []))
            svg.element(
                "title", [],
                content: "\(node.name)\n\(amount(node.value)), \(node.count) allocations, \(DecimalFormat.fixed(share, decimals: 2))%"
                    + (isDifferential ? "\nbefore \(amount(node.before)), change \(node.value >= node.before ? "+" : "-")\(amount(abs(node.value - node.before)))" : "")
                    + (node.location.isEmpty ? "" : "\n\(node.location)"))
            svg.element("rect", [("x", n(x)), ("y", n(y)), ("width", n(max(w - 0.5, 0.1))), ("height", n(Self.rowHeight - 1)), ("fill", color(of: node)), ("rx", "1.5")])
            svg.element("text", [("x", n(x + 3)), ("y", n(y + Self.rowHeight - 5)), ("font-size", "11")], content: Self.label(node.name, width: w))
            svg.close("g")
        }
        svg.close("g")
        var text = svg.finish()
        if forHTML, let declarationEnd = text.firstIndex(of: "\n") { text = String(text[text.index(after: declarationEnd)...]) }
        return text
    }

    /// A name cut to what fits in `width` pixels (about 6.5 pixels a character at 11 pixels), or nothing.
    static func label(_ name: String, width: Double) -> String {
        let fits = Int((width - 6) / 6.5)
        guard fits >= 3 else { return "" }
        return name.count <= fits ? name : String(name.prefix(fits - 1)) + "…"
    }

    /// The flame graph as one HTML page: no network access, no library.
    public func html() -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(SVGWriter.escaped(title))</title>
        <style>
        body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 12px; }
        #bar { position: sticky; top: 0; z-index: 1; background: #fff; padding: 4px 0 6px; }
        #search { width: 24em; }
        #flame .frame { cursor: pointer; }
        #flame .frame.match rect { fill: #c21cc9; }
        #flame .frame.hidden { display: none; }
        #details { min-height: 3.2em; white-space: pre; font-size: 13px; color: #333; }
        </style></head><body>
        <div id="bar"><input id="search" type="search" placeholder="Search frames (text or /regular expression/)">
        <span id="matched"></span> <button id="reset">Reset zoom</button>
        <div id="details">Click a frame to zoom in; hover for its size.</div></div>
        \(render(forHTML: true))
        <script>
        (function () {
          const svg = document.getElementById('flame');
          const total = Number(svg.dataset.total), width = Number(svg.dataset.width), unit = svg.dataset.unit;
          const frames = Array.from(svg.querySelectorAll('.frame'));
          const info = frames.map(g => ({ g: g, rect: g.querySelector('rect'), text: g.querySelector('text'),
            name: g.dataset.name, value: Number(g.dataset.value), count: Number(g.dataset.count),
            start: Number(g.dataset.start), depth: Number(g.dataset.depth), location: g.dataset.location,
            before: g.dataset.before === undefined ? null : Number(g.dataset.before) }));
          function amount(value) {
            if (unit !== 'bytes') return value + ' allocations';
            const units = ['B', 'KiB', 'MiB', 'GiB'];
            let v = value, u = 0;
            while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
            return (u === 0 ? v : v.toFixed(1)) + ' ' + units[u];
          }
          // In a differential graph: the value before and the change, for the hover and the search.
          function change(before, after) {
            return 'before ' + amount(before) + ', change ' + (after >= before ? '+' : '-') + amount(Math.abs(after - before));
          }
          function fit(label, pixels) {
            const fits = Math.floor((pixels - 6) / 6.5);
            if (fits < 3) return '';
            return label.length <= fits ? label : label.slice(0, fits - 1) + '\\u2026';
          }
          let zoomed = null;
          function layout(focus) {
            zoomed = focus;
            const from = focus ? focus.start : 0, span = focus ? focus.value : total;
            for (const f of info) {
              const inside = !focus || (f.depth >= focus.depth && f.start >= from && f.start + f.value <= from + span);
              const above = focus && f.depth < focus.depth && f.start <= from && f.start + f.value >= from + span;
              if (!inside && !above) { f.g.classList.add('hidden'); continue; }
              f.g.classList.remove('hidden');
              const x = above ? 0 : (f.start - from) / span * width;
              const w = above ? width : f.value / span * width;
              f.rect.setAttribute('x', x);
              f.rect.setAttribute('width', Math.max(w - 0.5, 0.1));
              f.text.setAttribute('x', x + 3);
              f.text.textContent = fit(f.name, w);
            }
          }
          frames.forEach((g, index) => {
            g.addEventListener('click', () => layout(info[index].depth === 0 ? null : info[index]));
            g.addEventListener('mouseover', () => {
              const f = info[index];
              document.getElementById('details').textContent = f.name + '\\n' + amount(f.value) + ', ' + f.count +
                ' allocations, ' + (total > 0 ? (f.value / total * 100).toFixed(2) : '0.00') + '% of all' +
                (f.before !== null ? '\\n' + change(f.before, f.value) : '') + (f.location ? '\\n' + f.location : '');
            });
          });
          document.getElementById('reset').addEventListener('click', () => layout(null));
          document.getElementById('search').addEventListener('input', event => {
            const text = event.target.value;
            let test = null;
            if (text.length > 2 && text.startsWith('/') && text.endsWith('/')) {
              try { const pattern = new RegExp(text.slice(1, -1)); test = name => pattern.test(name); } catch (e) { test = null; }
            } else if (text.length > 0) {
              test = name => name.includes(text);
            }
            // The share counts each matching frame once: not again inside a matching caller.
            let matched = 0, matchedBefore = 0;
            const covered = [];
            for (const f of info) {
              const match = test !== null && f.depth > 0 && test(f.name);
              f.g.classList.toggle('match', match);
              if (!match) continue;
              if (!covered.some(c => f.start >= c.start && f.start + f.value <= c.start + c.value && f.depth > c.depth)) {
                matched += f.value;
                matchedBefore += f.before === null ? 0 : f.before;
                covered.push(f);
              }
            }
            document.getElementById('matched').textContent = test === null ? '' :
              'Matched: ' + (total > 0 ? (matched / total * 100).toFixed(1) : '0.0') + '% (' + amount(matched) +
              (info.length > 0 && info[0].before !== null ? '; ' + change(matchedBefore, matched) : '') + ')';
          });
          // A flame graph stands on its root at the bottom: the page opens there, where the boxes are, with the bar
          // kept in view above them.
          const root = info.find(f => f.depth === 0);
          if (svg.dataset.orientation === 'flame' && root) root.rect.scrollIntoView({ block: 'end' });
        })();
        </script>
        </body></html>

        """
    }
}
