internal import MemoryProfilerSystem

/// Heap profiles in the formats other tools read: pprof (`profile.proto`, gzipped: `go tool pprof`, Grafana
/// Pyroscope, speedscope) and collapsed stacks (`frame;frame;frame value` lines: flamegraph.pl, speedscope).
extension HeapProfile {
    /// Which moment a profile's "in use" values describe.
    public enum Moment: String, Sendable, CaseIterable {
        /// When the heap was at its largest.
        case peak
        /// When the program ended (or the capture does).
        case exit
    }

    /// Per group (stack and type): allocations and bytes in all, and in use at `moment`, the filter applied.
    private func groupTotals(inUseAt moment: Moment) -> [(allocations: Int, allocated: Int, live: Int, liveBytes: Int)] {
        var totals = [(allocations: Int, allocated: Int, live: Int, liveBytes: Int)](
            repeating: (0, 0, 0, 0), count: capture.groupLeaves.count)
        if let counters = capture.counters {
            for group in totals.indices where groupKept[group] {
                totals[group] = moment == .peak
                    ? (counters.allocations[group], counters.bytes[group], counters.peak[group], counters.peakBytes[group])
                    : (counters.allocations[group], counters.bytes[group], counters.live[group], counters.liveBytes[group])
            }
            return totals
        }
        let peak = capture.peakAllocation
        for index in 0..<capture.sizes.count {
            let group = Int(capture.groups[index])
            guard groupKept[group] else { continue }
            let size = capture.sizes[index]
            totals[group].allocations += 1
            totals[group].allocated += size
            let live = moment == .peak
                ? index <= peak && Int(capture.freedAfter[index]) > peak
                : capture.freedAfter[index] == .max
            if live {
                totals[group].live += 1
                totals[group].liveBytes += size
            }
        }
        return totals
    }

    /// The profile in pprof's format, gzipped: sample types `alloc_objects`, `alloc_space`, `inuse_objects` and
    /// `inuse_space` (the default), "in use" meaning at `moment`. Each sample is a stack (inlined frames as lines of
    /// one location, innermost first) with a `type` label for Swift class instances.
    public func pprof(inUseAt moment: Moment = .peak) -> [UInt8] {
        var strings = ProtobufStrings()
        let totals = groupTotals(inUseAt: moment)

        // Mappings: the capture's modules.
        var mappings = ProtobufMessage()
        var mappingOfModule: [String: UInt64] = [:]
        for module in capture.modules where mappingOfModule[module.path] == nil {
            let id = UInt64(mappingOfModule.count + 1)
            mappingOfModule[module.path] = id
            var mapping = ProtobufMessage()
            mapping.number(1, id)
            mapping.number(2, module.addresses.lowerBound)
            mapping.number(3, module.addresses.upperBound)
            mapping.number(5, strings.index(module.path))
            mapping.number(7, 1)  // has_functions
            mappings.message(3, mapping)
        }

        // Functions and locations, made as samples need them.
        var functions = ProtobufMessage(), locations = ProtobufMessage()
        var functionIDs: [String: UInt64] = [:], locationIDs: [UInt64: UInt64] = [:]
        func functionID(_ frame: HeapSymbols.Frame) -> UInt64 {
            let key = "\(frame.function)\u{0}\(frame.file ?? "")"
            if let id = functionIDs[key] { return id }
            let id = UInt64(functionIDs.count + 1)
            functionIDs[key] = id
            var function = ProtobufMessage()
            function.number(1, id)
            function.number(2, strings.index(frame.function))
            function.number(3, strings.index(frame.function))
            function.number(4, strings.index(frame.file ?? ""))
            functions.message(5, function)
            return id
        }
        func locationID(_ address: UInt64) -> UInt64 {
            if let id = locationIDs[address] { return id }
            let id = UInt64(locationIDs.count + 1)
            locationIDs[address] = id
            var location = ProtobufMessage()
            location.number(1, id)
            let frames = symbols.frames(at: address)
            if let module = frames.first?.module,
                let mapping = capture.modules.first(where: { HeapSymbolizer.fileName($0.path) == module })
                    .flatMap({ mappingOfModule[$0.path] })
            {
                location.number(2, mapping)
            }
            location.number(3, address)
            for frame in frames {
                var line = ProtobufMessage()
                line.number(1, functionID(frame))
                line.number(2, UInt64(max(0, frame.line ?? 0)))
                location.message(4, line)
            }
            locations.message(4, location)
            return id
        }

        var samples = ProtobufMessage()
        var dropFrames = DropFrames()
        for group in 0..<totals.count where totals[group].allocations > 0 || totals[group].live > 0 {
            var sample = ProtobufMessage()
            // Without the allocator's own frames at the top (malloc, swift_slowAlloc, swift_allocObject), as Go's
            // heap profiles start at the code that allocates.
            var stack = capture.stack(node: capture.groupLeaves[group])[...]
            while let first = stack.first, stack.count > 1,
                symbols.frames(at: first).allSatisfy({ HeapProfile.isAllocator($0.function) || $0.function.hasPrefix("swift_") })
            {
                stack = stack.dropFirst()
            }
            dropFrames.add(stack.flatMap { symbols.frames(at: $0) })
            sample.packed(1, stack.map(locationID))
            sample.packed(2, [totals[group].allocations, totals[group].allocated, totals[group].live, totals[group].liveBytes].map { UInt64($0) })
            let type = capture.groupTypes[group]
            if type != 0, let name = symbols.typeName(Int(type)) {
                var label = ProtobufMessage()
                label.number(1, strings.index("type"))
                label.number(2, strings.index(name))
                sample.message(3, label)
            }
            samples.message(2, sample)
        }

        var profile = ProtobufMessage()
        for (type, unit) in [("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"), ("inuse_space", "bytes")] {
            var valueType = ProtobufMessage()
            valueType.number(1, strings.index(type))
            valueType.number(2, strings.index(unit))
            profile.message(1, valueType)
        }
        profile.bytes += samples.bytes
        profile.bytes += mappings.bytes
        profile.bytes += locations.bytes
        profile.bytes += functions.bytes
        let comment = strings.index("mprof heap: in use at the \(moment == .peak ? "heap's peak" : "program's exit")")
        let dropFramesIndex = strings.index(dropFrames.expression)
        let defaultType = strings.index("inuse_space")
        let periodType = strings.index("space"), periodUnit = strings.index("bytes")
        for string in strings.table {
            profile.length(6, Array(string.utf8))
        }
        profile.number(7, dropFramesIndex)
        profile.number(9, UInt64(max(0, capture.startTime * 1e9)))
        profile.number(10, UInt64(max(0, summary.duration * 1e9)))
        var period = ProtobufMessage()
        period.number(1, periodType)
        period.number(2, periodUnit)
        profile.message(11, period)
        profile.number(13, comment)
        profile.number(14, defaultType)
        return Gzip.wrap(profile.bytes)
    }

    /// The profile's `drop_frames`: the standard library's and runtime's frames between the program's own code and
    /// the allocator (`_ContiguousArrayBuffer.init`, `swift_allocObject`), which pprof then leaves out with what
    /// they call, as it leaves out Go's `runtime.malloc`, so that `-top` opens on the code that allocated.
    ///
    /// The program's own frames are those a site can be (see `siteFrame`). Only names that never stand above one
    /// are listed: pprof cuts a stack at the first listed frame from the root, and would otherwise drop the
    /// program's frames beneath an `Array.map`. pprof compares names up to their first `(` and anchors the
    /// expression.
    struct DropFrames {
        private var leafSide: Set<String> = []
        private var aboveOwnCode: Set<String> = []

        /// Notes a stack, innermost frame first.
        mutating func add(_ frames: [HeapSymbols.Frame]) {
            var ownSeen = false
            for frame in frames {
                // As a site is chosen: a standard-library function specialized into the program has no line.
                let own = !frame.isSystem && !HeapProfile.isPlumbing(frame.function) && frame.line != nil
                if own {
                    ownSeen = true
                } else {
                    let name = Self.comparedName(frame.function)
                    if ownSeen { aboveOwnCode.insert(name) } else { leafSide.insert(name) }
                }
            }
            // A stack with no frame of the program's own is all the standard library's: pprof keeps it whole.
            if !ownSeen { for frame in frames { leafSide.remove(Self.comparedName(frame.function)) } }
        }

        /// An RE2 alternation of the names, at most 1,000 of them, or "" for none.
        var expression: String {
            leafSide.subtracting(aboveOwnCode).filter { !$0.isEmpty }.sorted().prefix(1000).map(Self.escaped)
                .joined(separator: "|")
        }

        static func comparedName(_ function: String) -> String {
            guard let parenthesis = function.firstIndex(of: "("), parenthesis > function.startIndex,
                !function[parenthesis...].hasPrefix("(anonymous namespace)")
            else { return function }
            return String(function[..<parenthesis])
        }

        static func escaped(_ name: String) -> String {
            var result = ""
            for scalar in name.unicodeScalars {
                if "\\.+*?()|[]{}^$".unicodeScalars.contains(scalar) { result += "\\" }
                result.unicodeScalars.append(scalar)
            }
            return result
        }
    }

    /// Collapsed stacks for `view`: a line per stack, `root;…;leaf value`, value in bytes (allocations for
    /// ``View/calls`` and ``View/temporary``), frames in their short Swift names, a class instance's type as the
    /// last frame. The lines are sorted; the values add up to the view's total.
    public func collapsedStacks(_ view: View) -> String {
        var values: [String: Int] = [:]
        let totals = groupValues(view)
        for group in 0..<totals.count where totals[group] > 0 {
            var frames = capture.stack(node: capture.groupLeaves[group]).flatMap { symbols.frames(at: $0) }
                .filter { !HeapProfile.isPlumbing($0.function) }
                .reversed()
                .map { Self.collapsedName($0.function) }
            let type = capture.groupTypes[group]
            if type != 0, let name = symbols.typeName(Int(type)) { frames.append(Self.collapsedName(name)) }
            values[frames.isEmpty ? "(no stack)" : frames.joined(separator: ";"), default: 0] += totals[group]
        }
        return values.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)\n" }.joined()
    }

    /// A frame's name as collapsed stacks can hold it: `;` (the separator) becomes `:`, and a scalar that could
    /// end the line or act on a terminal becomes U+FFFD (by scalar: `"\r\n"` is one `Character`).
    static func collapsedName(_ name: String) -> String {
        MarkupText.lineField(name, replacing: [";"], with: ":")
    }
}

/// A protobuf message being written: fields appended in order.
struct ProtobufMessage {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) { LEB128.append(value, to: &bytes) }

    /// A varint field; zero is left out, as proto3 does.
    mutating func number(_ field: UInt64, _ value: UInt64) {
        guard value != 0 else { return }
        varint(field << 3)
        varint(value)
    }

    mutating func length(_ field: UInt64, _ payload: [UInt8]) {
        varint(field << 3 | 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func message(_ field: UInt64, _ message: ProtobufMessage) {
        length(field, message.bytes)
    }

    mutating func packed(_ field: UInt64, _ values: [UInt64]) {
        guard !values.isEmpty else { return }
        var payload = ProtobufMessage()
        for value in values { payload.varint(value) }
        length(field, payload.bytes)
    }
}

/// pprof's string table: index 0 is "".
struct ProtobufStrings {
    private(set) var table: [String] = [""]
    private var indices: [String: UInt64] = ["": 0]

    mutating func index(_ string: String) -> UInt64 {
        if let index = indices[string] { return index }
        let index = UInt64(table.count)
        table.append(string)
        indices[string] = index
        return index
    }
}

/// A gzip file (RFC 1952), by zlib at its default level.
enum Gzip {
    /// `data` gzipped; `data` itself, which pprof reads as well, in the unlikely case that zlib has no memory.
    static func wrap(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBufferPointer { Zlib.compress($0, level: 6, as: .gzip) } ?? data
    }
}

extension HeapProfile {
    /// How one site changed between two profiles.
    public struct SiteChange: Sendable, Hashable {
        /// The site, as both profiles name it: the type, the function and its file (no line: lines move between
        /// builds).
        public var site: String
        /// The view's value before (0: the site did not allocate then).
        public var before: Int
        /// The value after (0: the site no longer allocates).
        public var after: Int
        /// `after - before`.
        public var change: Int { after - before }
    }

    /// What changed from `before` to `after` in `view`, by site, largest changes first (by their size), and the
    /// totals.
    public static func compare(
        _ before: HeapProfile, _ after: HeapProfile, view: View
    ) -> (changes: [SiteChange], before: Int, after: Int) {
        let byCount = view.isCounted
        func values(_ profile: HeapProfile) -> [String: Int] {
            var values: [String: Int] = [:]
            for site in profile.sites(view) {
                let file = site.frame.file.map { " (\(HeapSymbols.Frame.shortFile($0)))" } ?? " in \(site.frame.module)"
                let key = (site.typeName.map { "\($0) from " } ?? "") + site.frame.function + file
                values[key, default: 0] += byCount ? site.allocations : site.bytes
            }
            return values
        }
        let old = values(before), new = values(after)
        let changes = Set(old.keys).union(new.keys).map { SiteChange(site: $0, before: old[$0] ?? 0, after: new[$0] ?? 0) }
            .filter { $0.change != 0 }
            .sorted { abs($0.change) != abs($1.change) ? abs($0.change) > abs($1.change) : $0.site < $1.site }
        return (changes, old.values.reduce(0, +), new.values.reduce(0, +))
    }
}

extension HeapProfile {
    /// The allocations of one stack (and type) in a view.
    public struct Stack: Sendable {
        /// The frames, outermost first (the way flame graphs and collapsed stacks read), inlined frames included,
        /// without the allocator's own.
        public var frames: [HeapSymbols.Frame]
        /// The Swift type allocated, for class instances.
        public var typeName: String?
        /// The bytes in the view.
        public var bytes: Int
        /// The allocations in the view.
        public var count: Int
    }

    /// Every stack with allocations in `view`, the filter applied: what flame graphs are drawn from.
    public func stacks(_ view: View) -> [Stack] {
        let (bytes, counts) = groupTotals(view)
        var stacks: [Stack] = []
        for group in 0..<bytes.count where counts[group] > 0 && groupKept[group] {
            let frames = capture.stack(node: capture.groupLeaves[group]).flatMap { symbols.frames(at: $0) }
                .filter { !HeapProfile.isPlumbing($0.function) }
            let type = capture.groupTypes[group]
            stacks.append(Stack(
                frames: frames.reversed(), typeName: type == 0 ? nil : symbols.typeName(Int(type)), bytes: bytes[group],
                count: counts[group]))
        }
        return stacks
    }
}
