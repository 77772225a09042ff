import MemoryProfilerSystem

/// What `mprof run --heap` needs to know about a program file before it preloads the hook into it: whether the
/// dynamic loader runs it at all (a static executable loads no library), and whether it brings its own malloc.
/// Read from the ELF headers; every offset and count is checked against the file's size.
struct ExecutableImage {
    enum Kind: Equatable {
        /// An ELF executable the dynamic loader starts: LD_PRELOAD works.
        case dynamic
        /// An ELF file without an interpreter: nothing can be preloaded into it.
        case staticallyLinked
        /// A script: its `#!` interpreter is what runs.
        case script(interpreter: [UInt8])
        /// Not ELF, or not one we read (32-bit, big-endian, damaged).
        case other
    }

    var kind: Kind
    /// True when the file's own symbol tables define `malloc`: an allocator linked in statically (jemalloc's
    /// `.a`, say), whose calls from inside the program never reach a preloaded `malloc`.
    var definesMalloc = false
    /// Set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it.
    var isSetID = false

    init(path: [UInt8]) {
        kind = .other
        guard let descriptor = try? Descriptor.open(path, .readOnly, options: .nonBlocking) else { return }
        defer { descriptor.close() }
        guard let status = try? descriptor.status(), status.kind == .regular else { return }
        isSetID = status.permissions & 0o6000 != 0
        let size = status.size
        func read(_ count: Int, at offset: Int) -> [UInt8]? {
            guard count >= 0, count <= 64 << 20, offset >= 0, offset <= size - count else { return nil }
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { try? descriptor.read(into: $0, atOffset: offset) }
            return got == count ? bytes : nil
        }
        guard let header = read(64, at: 0) ?? read(min(size, 256), at: 0) else { return }
        if header.starts(with: [UInt8(ascii: "#"), UInt8(ascii: "!")]), let line = read(min(size, 256), at: 0) {
            let text = line.dropFirst(2).prefix { $0 != UInt8(ascii: "\n") }
            let words = text.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            if let interpreter = words.first { kind = .script(interpreter: Array(interpreter)) }
            return
        }
        // 64-bit little-endian ELF only (the machines mprof runs on).
        guard header.count == 64, header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2, header[5] == 1 else { return }
        func integer(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> Int {
            var value = 0
            for index in (0..<width).reversed() { value = value << 8 | Int(bytes[offset + index]) }
            return value
        }
        let programHeaders = integer(header, 0x20, 8), programHeaderSize = integer(header, 0x36, 2)
        let programHeaderCount = integer(header, 0x38, 2)
        guard programHeaderSize >= 56, let table = read(programHeaderSize * programHeaderCount, at: programHeaders) else { return }
        let hasInterpreter = (0..<programHeaderCount).contains { integer(table, $0 * programHeaderSize, 4) == 3 }  // PT_INTERP
        kind = hasInterpreter ? .dynamic : .staticallyLinked

        // Symbol tables: SHT_SYMTAB (2) and SHT_DYNSYM (11), with the string table each links to.
        let sections = integer(header, 0x28, 8), sectionSize = integer(header, 0x3A, 2), sectionCount = integer(header, 0x3C, 2)
        guard sectionSize >= 64, let sectionTable = read(sectionSize * sectionCount, at: sections) else { return }
        for index in 0..<sectionCount {
            let base = index * sectionSize
            let type = integer(sectionTable, base + 4, 4)
            guard type == 2 || type == 11 else { continue }
            let offset = integer(sectionTable, base + 0x18, 8), bytes = integer(sectionTable, base + 0x20, 8)
            let link = integer(sectionTable, base + 0x28, 4), entrySize = integer(sectionTable, base + 0x38, 8)
            guard entrySize >= 24, link < sectionCount, let symbols = read(bytes, at: offset) else { continue }
            let stringsBase = link * sectionSize
            guard let strings = read(integer(sectionTable, stringsBase + 0x20, 8), at: integer(sectionTable, stringsBase + 0x18, 8)) else { continue }
            let name = Array("malloc".utf8) + [0]
            for symbol in stride(from: 0, to: symbols.count - entrySize + 1, by: entrySize) {
                let nameOffset = integer(symbols, symbol, 4), info = symbols[symbol + 4]
                let sectionIndex = integer(symbols, symbol + 6, 2)
                guard info & 0xF == 2, sectionIndex != 0, nameOffset + name.count <= strings.count else { continue }
                if strings[nameOffset..<nameOffset + name.count].elementsEqual(name) {
                    definesMalloc = true
                    return
                }
            }
        }
    }
}
