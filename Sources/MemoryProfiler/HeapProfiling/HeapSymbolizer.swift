#if os(Linux)
internal import MemoryProfilerSystem

/// Names for the addresses of a ``HeapCapture``: functions, files and lines, and Swift type names.
public struct HeapSymbols: Sendable {
    /// One frame of a call stack, as a person reads it.
    public struct Frame: Sendable, Hashable, Encodable {
        /// The function: Swift names demangled in their short form (`buildIndex(count:payload:)`), C++ names
        /// demangled, C names as they are; `module+0x1a2b` when no symbol is known.
        public var function: String
        /// The source file, when the module has debug information.
        public var file: String?
        /// The line in ``file``.
        public var line: Int?
        /// The module's file name (`heap-workload`, `libswiftCore.so`).
        public var module: String
        /// True for frames in the system's and the toolchain's libraries (libc, the Swift runtime, Foundation):
        /// not the program's own code.
        public var isSystem: Bool
        /// True for a function inlined into the next frame.
        public var isInlined: Bool

        /// `function at file:line`, or `function in module` without a file.
        public var location: String {
            if let file, let line, line > 0 { return "\(function) at \(Self.shortFile(file)):\(line)" }
            return "\(function) in \(module)"
        }

        static func shortFile(_ path: String) -> String {
            path.split(separator: "/").suffix(2).joined(separator: "/")
        }
    }

    /// Frames by return address: the function the address is in, and the ones inlined at it (innermost first).
    var frames: [UInt64: [Frame]]
    /// Swift type names by type number (1-based, as ``HeapCapture/types``).
    var typeNames: [Int: String]
    /// What could not be done, for the report: a tool that is missing, a module that is gone.
    public var notes: [String]

    /// The frames for a return address (more than one where functions were inlined), innermost first.
    public func frames(at address: UInt64) -> [Frame] { frames[address] ?? [] }

    /// The name of Swift type `number` (a 1-based index into ``HeapCapture/types``).
    public func typeName(_ number: Int) -> String? { typeNames[number] }
}

/// Turns a capture's addresses into names, after the run: never in the profiled program.
///
/// Functions, files and lines come from `llvm-symbolizer` (which reads the symbol tables and DWARF of each
/// module: one process for all addresses), Swift names are demangled by `swift-demangle --simplified` (the short
/// form: `buildIndex(count:payload:)`, `Array.init(repeating:count:)`). Both ship with the Swift toolchain and are
/// found beside the `swift` on `PATH`, or on `PATH`; `MPROF_SYMBOLIZER` and `MPROF_DEMANGLER` name others. Without
/// them, frames are shown as `module+offset`, and the report says why.
///
/// A class's name comes from its nominal type descriptor's symbol (`$s4main4NodeCMn`), so generic classes are
/// named without their arguments (`Box`, not `Box<Int>`).
public struct HeapSymbolizer: Sendable {
    /// The `llvm-symbolizer` to run, if one was found.
    public var symbolizer: String?
    /// The `swift-demangle` to run, if one was found.
    public var demangler: String?

    /// Finds the tools: `MPROF_SYMBOLIZER` / `MPROF_DEMANGLER`, then beside the `swift` on `PATH`, then `PATH`.
    public init() {
        symbolizer = Environment.value("MPROF_SYMBOLIZER").flatMap { $0.isEmpty ? nil : $0 }
            ?? ExecutableLookup.find("llvm-symbolizer", besideCommand: "swift")
            ?? ExecutableLookup.find("llvm-symbolizer")
        demangler = Environment.value("MPROF_DEMANGLER").flatMap { $0.isEmpty ? nil : $0 }
            ?? ExecutableLookup.find("swift-demangle", besideCommand: "swift")
            ?? ExecutableLookup.find("swift-demangle")
    }

    /// Uses the given tools (nil: do without).
    public init(symbolizer: String?, demangler: String?) {
        self.symbolizer = symbolizer
        self.demangler = demangler
    }

    /// Names every address in `capture`'s stacks and every Swift type: the names stored in the capture after
    /// its run (``storeNames(inCaptureAt:)``) when it has them and `usingStoredNames`, otherwise from the
    /// program's files as they are now.
    ///
    /// With `prenamed`, the names a ``HeapPreNamer`` found while the program ran are taken, and only the rest asked.
    public func symbolize(
        _ capture: HeapCapture, usingStoredNames: Bool = true, prenamed: HeapPreNamer? = nil
    ) -> HeapSymbols {
        if usingStoredNames, let stored = capture.embeddedSymbols {
            prenamed?.cancel()
            return stored
        }
        var symbols = HeapSymbols(frames: [:], typeNames: [:], notes: [])
        if usingStoredNames {
            symbols.notes.append(
                "the capture has no stored names (mprof run did not get to store them, or the capture was copied from "
                    + "the hook as it was): names come from the program's files as they are now")
        }
        // A module recorded again at the same place (after a dlclose, another library there) is the later one.
        var latest: [UInt64: HeapCapture.Module] = [:]
        for module in capture.modules { latest[module.addresses.lowerBound] = module }
        let modules = latest.values.sorted { $0.addresses.lowerBound < $1.addresses.lowerBound }
        func module(of address: UInt64) -> HeapCapture.Module? { Self.module(of: address, in: modules) }

        // The questions: code addresses (return addresses, so the call is one byte before) and type descriptors.
        let codeAddresses = Array(Set(capture.addresses)).sorted()
        // A module whose file is gone cannot be named: its frames read module+offset, and several functions of it
        // may look like one site.
        let used = Set(codeAddresses.compactMap { module(of: $0)?.path })
        for path in used.sorted().prefix(20) where path.hasPrefix("/") && !ProcessTable.pathExists(path) {
            symbols.notes.append(
                "\(path) is gone: its frames are shown as module+offset, and different functions of it may read as one site")
        }
        var questions: [(kind: String, module: HeapCapture.Module, offset: UInt64)?] = []
        for address in codeAddresses {
            questions.append(module(of: address).map { ("CODE", $0, address &- $0.loadBias &- 1) })
        }
        for type in capture.types where type.kind == 0 {
            questions.append(module(of: type.descriptor).map { ("DATA", $0, type.descriptor &- $0.loadBias) })
        }
        let answers = symbolizer.flatMap { ask($0, questions, prenamed: prenamed, notes: &symbols.notes) }
        if symbolizer == nil {
            symbols.notes.append("llvm-symbolizer was not found (set MPROF_SYMBOLIZER): frames are shown as module+offset")
        }

        // Demangle every Swift name at once.
        var mangled: Set<String> = []
        for answer in answers ?? [] {
            for frame in answer where Self.isSwiftMangled(frame.function) { mangled.insert(frame.function) }
        }
        let demangled = demangle(Array(mangled), notes: &symbols.notes)

        for (index, address) in codeAddresses.enumerated() {
            let owner = module(of: address)
            let moduleName = owner.map { Self.fileName($0.path) } ?? "?"
            let isSystem = owner.map { Self.isSystemModule($0.path) } ?? true
            let fallback = owner.map { "\(moduleName)+0x\(String(address &- $0.loadBias, radix: 16))" }
                ?? "0x\(String(address, radix: 16))"
            let answered = answers?[index] ?? []
            var frames: [HeapSymbols.Frame] = []
            for (position, frame) in answered.enumerated() where frame.function != "??" {
                // Code from the system's headers (C++ templates, inline functions) is compiled into the program,
                // but it is not the program's own.
                let fromSystemHeader = frame.file.map(Self.isSystemSource) ?? false
                frames.append(.init(
                    function: demangled[frame.function] ?? frame.function, file: frame.file, line: frame.line,
                    module: moduleName, isSystem: isSystem || fromSystemHeader, isInlined: position < answered.count - 1))
            }
            if frames.isEmpty {
                frames = [.init(function: fallback, file: nil, line: nil, module: moduleName, isSystem: isSystem, isInlined: false)]
            }
            symbols.frames[address] = frames
        }

        var dataIndex = codeAddresses.count
        for (number, type) in capture.types.enumerated() {
            let name: String?
            switch type.kind {
            case 0:
                let symbol = answers?[dataIndex].first?.function.nilIfUnknown
                dataIndex += 1
                name = symbol.map { demangled[$0] ?? $0 }.map {
                    $0.hasPrefix("nominal type descriptor for ") ? String($0.dropFirst(28)) : $0
                }
            case 0x400: name = "(closure context or box)"
            case 0x500: name = "(generic box)"
            case 0x501: name = "(error box)"
            default: name = nil
            }
            if let name { symbols.typeNames[number + 1] = name }
        }
        return symbols
    }

    private struct Answer {
        var function: String
        var file: String?
        var line: Int?
    }

    /// The module holding `address`, of `modules` sorted by address.
    static func module(of address: UInt64, in modules: [HeapCapture.Module]) -> HeapCapture.Module? {
        var low = 0, high = modules.count
        while low < high {
            let middle = (low + high) / 2
            if modules[middle].addresses.upperBound <= address { low = middle + 1 } else { high = middle }
        }
        return low < modules.count && modules[low].addresses.contains(address) ? modules[low] : nil
    }

    /// The line that asks llvm-symbolizer about `offset` in `module`'s file; nil for a file it cannot be asked about
    /// (a path it cannot parse, or not absolute: the kernel's vDSO).
    static func question(kind: String, module: HeapCapture.Module, offset: UInt64) -> String? {
        let path = module.path
        guard !path.contains("\""), !path.contains("\n"), path.hasPrefix("/") else { return nil }
        return "\(kind) \"\(path)\" 0x\(String(offset, radix: 16))"
    }

    /// The answers to the questions, in order (none for a question that cannot be asked): those `prenamed` has,
    /// and the rest from its running llvm-symbolizer, or from one run of `tool` over them all.
    private func ask(
        _ tool: String, _ questions: [(kind: String, module: HeapCapture.Module, offset: UInt64)?],
        prenamed: HeapPreNamer?, notes: inout [String]
    ) -> [[Answer]]? {
        let lines = questions.map { question in
            question.flatMap { Self.question(kind: $0.kind, module: $0.module, offset: $0.offset) }
        }
        var known: [String: [Substring]] = [:]
        var live: LiveSymbolizer?
        if let prenamed { (known, live) = prenamed.finish() }
        defer { live?.close() }
        let missing = Array(Set(lines.compactMap { $0 }.filter { known[$0] == nil }))
        if !missing.isEmpty {
            guard let blocks = live?.ask(missing) ?? askOnce(tool, missing, notes: &notes) else { return nil }
            for (line, block) in zip(missing, blocks) { known[line] = block }
        }
        return zip(lines, questions).map { line, question in
            Self.answers(line.flatMap { known[$0] } ?? [], kind: question?.kind)
        }
    }

    /// Runs llvm-symbolizer once over `questions`; the answers come back in order, one block of lines each.
    private func askOnce(_ tool: String, _ questions: [String], notes: inout [String]) -> [[Substring]]? {
        let input = questions.map { $0 + "\n" }.joined()
        guard let output = run(tool, ["--inlines", "--output-style=LLVM"], input: input, notes: &notes) else {
            return nil
        }
        let blocks = Self.blocks(of: output)
        guard blocks.count == questions.count else {
            notes.append("llvm-symbolizer answered \(blocks.count) of \(questions.count) addresses: frames are shown as module+offset")
            return nil
        }
        return blocks
    }

    /// llvm-symbolizer's answers in `output`: blocks of lines, each ended by an empty line. CODE gives (function,
    /// file:line:column) pairs, DATA gives the symbol, then "start size" (and a location line in newer versions).
    static func blocks(of output: String) -> [[Substring]] {
        var blocks: [[Substring]] = []
        var lines: [Substring] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !lines.isEmpty { blocks.append(lines) }
                lines = []
            } else {
                lines.append(line)
            }
        }
        return blocks
    }

    private static func answers(_ lines: [Substring], kind: String?) -> [Answer] {
        if kind == "DATA" { return lines.first.map { [Answer(function: String($0))] } ?? [] }
        var answers: [Answer] = []
        var index = 0
        while index + 1 < lines.count {
            let function = String(lines[index])
            // file:line:column, where the file may itself hold colons.
            let location = lines[index + 1].split(separator: ":", omittingEmptySubsequences: false)
            var file: String? = nil
            var line: Int? = nil
            if location.count >= 3, let number = Int(location[location.count - 2]) {
                file = location.dropLast(2).joined(separator: ":")
                line = number
            }
            if file == "??" || file == "" { file = nil }
            if line == 0 { line = nil }
            answers.append(Answer(function: function, file: file, line: line))
            index += 2
        }
        return answers
    }

    /// Demangles Swift names with swift-demangle, one per line; names it leaves alone map to themselves.
    private func demangle(_ names: [String], notes: inout [String]) -> [String: String] {
        guard !names.isEmpty else { return [:] }
        guard let demangler else {
            notes.append("swift-demangle was not found (set MPROF_DEMANGLER): Swift names are shown mangled")
            return [:]
        }
        guard let output = run(demangler, ["--simplified", "--compact"], input: names.joined(separator: "\n") + "\n", notes: &notes) else {
            return [:]
        }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= names.count else {
            notes.append("swift-demangle answered \(lines.count) of \(names.count) names: Swift names are shown mangled")
            return [:]
        }
        var result: [String: String] = [:]
        for (name, line) in zip(names, lines) where !line.isEmpty {
            // The simplified form leaves out the module, which is all the context a closure in a main.swift's
            // top-level code has: "closure #3 in ". Say where it is instead.
            result[name] = line.hasSuffix(" in ") ? line + "top-level code" : String(line)
        }
        return result
    }

    /// Runs `tool` with `input` on its standard input (through a temporary file) and returns its output.
    private func run(_ tool: String, _ arguments: [String], input: String, notes: inout [String]) -> String? {
        let name = Self.fileName(tool)
        do {
            let directory = Environment.value("TMPDIR").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
            let file = try TemporaryFile(in: directory, permissions: 0o600)
            defer { file.remove() }
            try file.write(input)
            try file.close()
            let process = try ChildProcess.spawn(
                tool, arguments: arguments, standardInput: .file(file.path), standardOutput: .pipe, standardError: .null,
                inOwnProcessGroup: true)
            let output = process.readOutput(limit: 1 << 30)
            let termination = try process.wait()
            guard termination.shellStatus == 0 else {
                notes.append("\(name) failed (\(termination)): names are missing")
                return nil
            }
            return String(decoding: output, as: UTF8.self)
        } catch {
            notes.append("\(name) could not be run: \(error.message)")
            return nil
        }
    }

    static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func isSwiftMangled(_ name: String) -> Bool {
        name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S") || name.hasPrefix("_T0")
    }

    /// Source files of the system's headers and runtime libraries.
    static func isSystemSource(_ path: String) -> Bool {
        path.hasPrefix("/usr/include/") || path.hasPrefix("/usr/local/include/") || path.contains("/include/c++/")
            || path.hasPrefix("/usr/lib/gcc/") || path.hasPrefix("/usr/lib/llvm")
    }

    /// The system's and the toolchain's libraries, the loader, the vDSO and the hook: not the program's code.
    static func isSystemModule(_ path: String) -> Bool {
        let name = fileName(path)
        return path.hasPrefix("/lib/") || path.hasPrefix("/lib64/") || path.hasPrefix("/usr/lib/")
            || path.hasPrefix("/usr/lib64/") || path.contains("/usr/lib/swift/") || path.contains("/usr/lib/swift_static/")
            || name.hasPrefix("linux-vdso") || name.hasPrefix("libmprof-heap-hook") || name.hasPrefix("libswift")
            || name.hasPrefix("libFoundation") || name.hasPrefix("lib_Foundation") || name.hasPrefix("libdispatch")
            || name.hasPrefix("libBlocksRuntime")
    }
}
#endif

extension String {
    /// Nil for llvm-symbolizer's "??" (no symbol there).
    fileprivate var nilIfUnknown: String? { self == "??" || isEmpty ? nil : self }
}
