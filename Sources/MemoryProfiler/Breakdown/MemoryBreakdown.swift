/// A process's resident memory broken into parts a person can act on, from the kernel's list of its mappings
/// (`/proc/PID/smaps`): the malloc heap, other anonymous memory, thread stacks, code and libraries, mapped files,
/// shared memory. Every mapping is in exactly one part, so the parts add up to the resident set.
public struct MemoryBreakdown: Sendable, Hashable {
    /// What a mapping is for.
    public enum Category: String, Sendable, Hashable, CaseIterable, Codable {
        /// The brk heap and glibc's other arenas: what malloc handed out, and free memory it keeps.
        case mallocHeap = "malloc-heap"
        /// Private anonymous memory outside them: malloc's large blocks (glibc maps each block of 128 KiB or more on
        /// its own), other allocators' arenas (jemalloc, tcmalloc), memory mapped by hand.
        case otherAnonymous = "other-anonymous"
        /// One stack per thread: the main thread's, and those the threads library mapped.
        case threadStacks = "thread-stacks"
        /// The program and its libraries: code, read-only data and the writable data of each loaded object.
        case code
        /// Data files mapped into memory: their pages are the page cache's, counted here while mapped.
        case mappedFiles = "mapped-files"
        /// Memory shared between processes: `MAP_SHARED` anonymous memory, POSIX and System V shared memory, memfd.
        case sharedMemory = "shared-memory"
        /// The kernel's pages in every process (vDSO, vvar).
        case kernel

        /// What the part is, in a line, for the report.
        public var meaning: String {
            switch self {
            case .mallocHeap: "memory malloc handed out, and free memory it keeps for later (brk heap, glibc arenas)"
            case .otherAnonymous: "large malloc blocks, other allocators' arenas, memory mapped by hand"
            case .threadStacks: "the stacks of the threads, touched pages only"
            case .code: "the program's and its libraries' code and data, from their files (shared between processes)"
            case .mappedFiles: "data files mapped into memory (page cache pages, dropped under pressure)"
            case .sharedMemory: "shared memory and files in RAM (shared mappings, /dev/shm and other tmpfs files, memfd): swapped, never dropped"
            case .kernel: "the kernel's pages mapped in every process"
            }
        }

        /// The part's name for people.
        public var title: String {
            switch self {
            case .mallocHeap: "malloc heap"
            case .otherAnonymous: "other anonymous"
            case .threadStacks: "thread stacks"
            case .code: "code and libraries"
            case .mappedFiles: "mapped files"
            case .sharedMemory: "shared memory"
            case .kernel: "kernel"
            }
        }
    }

    /// One part: the sums of its mappings' `Rss`, `Pss` and `Swap`.
    public struct Part: Sendable, Hashable {
        public var category: Category
        public var resident: MemorySize
        public var proportional: MemorySize
        public var swapped: MemorySize
        public var mappings: Int
    }

    /// One mapping of the process, as the breakdown saw it.
    public struct Mapping: Sendable, Hashable {
        public var start: UInt64
        public var end: UInt64
        public var permissions: String
        public var path: String
        public var resident: MemorySize
        public var proportional: MemorySize
        public var swapped: MemorySize
        /// Pages of the mapping that are no longer the file's (a private mapping written to): `Anonymous` in smaps.
        public var anonymous: MemorySize
        public var category: Category
        /// The device of the mapped file, "major:minor" as smaps writes it ("00:00" for anonymous memory).
        public var device: String = "00:00"
        /// Huge pages of hugetlbfs or `MAP_HUGETLB` (`Private_Hugetlb` + `Shared_Hugetlb`): the kernel counts them
        /// apart, in no resident set.
        public var hugePages: MemorySize = .zero

        /// The pages of a file mapped privately that the process wrote: its own copies, counted as other anonymous
        /// memory in the parts, not as the file's part.
        public var writtenCopies: MemorySize {
            let isPrivateFile = path.hasPrefix("/") && permissions.last == "p"
            guard isPrivateFile, category == .mappedFiles || category == .sharedMemory else { return .zero }
            return MemorySize(bytes: min(anonymous.bytes, resident.bytes))
        }
    }

    /// The parts, largest resident first; every category is present, empty ones with zeros.
    public var parts: [Part]
    /// Every mapping, in address order.
    public var mappings: [Mapping]
    /// The number of threads, and how many of their stacks were found by their stack pointers.
    public var threads: Int
    public var stacksFoundByStackPointer: Int

    /// A malloc replacement the process has loaded (jemalloc, tcmalloc, mimalloc), by its library's path: its
    /// memory is in the brk heap or in anonymous mappings of its own, as it chooses, and glibc's arena rule does not
    /// apply.
    public var allocatorLibrary: String? {
        mappings.first { Self.isAllocatorLibrary($0.path) }?.path
    }

    static func isAllocatorLibrary(_ path: String) -> Bool {
        let name = path.split(separator: "/").last ?? ""
        return name.hasPrefix("libjemalloc") || name.hasPrefix("libtcmalloc") || name.hasPrefix("libmimalloc")
    }

    /// The sum of the parts' resident bytes: the process's resident set as smaps counts it.
    public var resident: MemorySize { MemorySize(bytes: parts.reduce(0) { $0 + $1.resident.bytes }) }
    /// The sum of the parts' proportional set sizes (shared pages divided among the processes sharing them).
    public var proportional: MemorySize { MemorySize(bytes: parts.reduce(0) { $0 + $1.proportional.bytes }) }
    /// Bytes swapped out (not resident, so in no part's resident bytes).
    public var swapped: MemorySize { MemorySize(bytes: parts.reduce(0) { $0 + $1.swapped.bytes }) }
    /// Huge pages mapped (hugetlbfs, `MAP_HUGETLB`, `memfd` with `MFD_HUGETLB`): in none of the parts, since the
    /// kernel counts them in no resident set.
    public var hugePages: MemorySize { MemorySize(bytes: mappings.reduce(0) { $0 + $1.hugePages.bytes }) }

    /// The part of `category`.
    public subscript(category: Category) -> Part {
        parts.first { $0.category == category }
            ?? Part(category: category, resident: .zero, proportional: .zero, swapped: .zero, mappings: 0)
    }

    /// Classifies the mappings of an `smaps` text.
    ///
    /// - Parameters:
    ///   - smaps: The text of `/proc/PID/smaps`.
    ///   - stackPointers: The stack pointers of the process's threads, where known: the mapping holding one is a
    ///     thread's stack.
    ///   - threads: The number of threads.
    ///   - memoryFileDevices: The devices ("major:minor") of file systems whose files live in memory (tmpfs, ramfs,
    ///     hugetlbfs): their pages are shared memory, which the kernel can swap but never drops as it drops the page
    ///     cache. `/dev/shm` is known without them.
    /// - Throws: ``MemoryError/Code/unexpectedFormat`` for text that is not smaps.
    public init(
        smaps: [UInt8], stackPointers: [UInt64], threads: Int, memoryFileDevices: Set<String> = []
    ) throws(MemoryError) {
        var parsed = try Self.parse(smaps)
        // Objects with an executable mapping are code: all their mappings (read-only data, relocated data) too.
        var codeFiles = Set<String>()
        for mapping in parsed where mapping.permissions.contains("x") && mapping.path.hasPrefix("/") {
            codeFiles.insert(mapping.path)
        }
        // With another allocator loaded, an anonymous mapping at a 64 MiB boundary is not a glibc arena.
        let replaced = parsed.contains { Self.isAllocatorLibrary($0.path) }
        var found = 0
        for index in parsed.indices {
            let mapping = parsed[index]
            let previous = index > 0 ? parsed[index - 1] : nil
            let holdsStackPointer = stackPointers.contains { $0 >= mapping.start && $0 < mapping.end }
            if holdsStackPointer && !mapping.path.hasPrefix("/") { found += 1 }
            parsed[index].category = Self.category(
                of: mapping, previous: previous, holdsStackPointer: holdsStackPointer, codeFiles: codeFiles,
                glibcArenas: !replaced)
            // A file in memory, mapped: shared memory whether or not another process maps it (its written private
            // pages are still moved to anonymous memory below).
            if parsed[index].category == .mappedFiles && memoryFileDevices.contains(mapping.device) {
                parsed[index].category = .sharedMemory
            }
        }
        mappings = parsed
        self.threads = threads
        stacksFoundByStackPointer = found
        var sums: [Category: Part] = [:]
        for category in Category.allCases {
            sums[category] = Part(category: category, resident: .zero, proportional: .zero, swapped: .zero, mappings: 0)
        }
        for mapping in parsed {
            // A data file mapped privately and written: the written pages are anonymous memory, not the page cache.
            let moved = mapping.writtenCopies.bytes
            let share = mapping.resident.bytes > 0 ? Double(moved) / Double(mapping.resident.bytes) : 0
            let movedProportional = Int(Double(mapping.proportional.bytes) * share)
            sums[mapping.category]?.resident.bytes += mapping.resident.bytes - moved
            sums[mapping.category]?.proportional.bytes += mapping.proportional.bytes - movedProportional
            sums[.otherAnonymous]?.resident.bytes += moved
            sums[.otherAnonymous]?.proportional.bytes += movedProportional
            sums[mapping.category]?.swapped.bytes += mapping.swapped.bytes
            sums[mapping.category]?.mappings += 1
        }
        parts = Category.allCases.compactMap { sums[$0] }.sorted {
            $0.resident != $1.resident ? $0.resident > $1.resident : $0.category.rawValue < $1.category.rawValue
        }
    }

    /// glibc maps each arena other than the main one at an address aligned to its largest size (64 MiB on 64-bit
    /// systems), readable and writable up to what it uses, the rest reserved without access.
    static let arenaAlignment: UInt64 = 64 << 20

    static func category(
        of mapping: Mapping, previous: Mapping?, holdsStackPointer: Bool, codeFiles: Set<String>, glibcArenas: Bool
    ) -> Category {
        let path = mapping.path
        let shared = mapping.permissions.count >= 4 && mapping.permissions.last == "s"
        switch path {
        case "[heap]": return .mallocHeap
        case "[stack]": return .threadStacks
        case "[vdso]", "[vvar]", "[vsyscall]", "[vvar_vclock]", "[uprobes]": return .kernel
        default: break
        }
        if shared && (path.hasPrefix("/dev/shm/") || path.hasPrefix("/memfd:") || path.hasPrefix("/SYSV") || path.hasPrefix("/dev/zero")) {
            return .sharedMemory
        }
        // Mapped privately, such memory is the process's own: its written pages are anonymous.
        if path.hasPrefix("/memfd:") || path.hasPrefix("/dev/zero") { return .otherAnonymous }
        if path.hasPrefix("/") {
            if codeFiles.contains(path) { return .code }
            return .mappedFiles
        }
        // Anonymous (or named anonymous, "[anon:…]").
        if shared { return .sharedMemory }
        if holdsStackPointer { return .threadStacks }
        let readWrite = mapping.permissions.hasPrefix("rw")
        // An object's zero-initialized data (.bss) past its file: anonymous, right after its writable mapping.
        if readWrite, let previous, previous.end == mapping.start, previous.permissions.hasPrefix("rw"),
            codeFiles.contains(previous.path), mapping.path.isEmpty
        {
            return .code
        }
        // A thread stack as the threads library maps it: its guard page (no access) just below it.
        if readWrite, let previous, previous.end == mapping.start, previous.permissions.hasPrefix("---"),
            !previous.path.hasPrefix("/"), mapping.start % arenaAlignment != 0
        {
            return .threadStacks
        }
        if glibcArenas && readWrite && mapping.start % arenaAlignment == 0 { return .mallocHeap }
        return .otherAnonymous
    }

    /// The mappings of an smaps text, each with its `Rss`, `Pss` and `Swap` (categories not yet known).
    static func parse(_ text: [UInt8]) throws(MemoryError) -> [Mapping] {
        var mappings: [Mapping] = []
        var lineStart = 0
        let count = text.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count && text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = text[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            guard let first = line.first else { continue }
            if Self.isHexDigit(first), let mapping = Self.header(line) {
                mappings.append(mapping)
                continue
            }
            guard !mappings.isEmpty else {
                throw MemoryError(.unexpectedFormat, "smaps text does not start with a mapping")
            }
            // "Rss:                 123 kB"
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let key = line[line.startIndex..<colon]
            let field: WritableKeyPath<Mapping, MemorySize>
            if key.elementsEqual("Rss".utf8) {
                field = \.resident
            } else if key.elementsEqual("Pss".utf8) {
                field = \.proportional
            } else if key.elementsEqual("Swap".utf8) {
                field = \.swapped
            } else if key.elementsEqual("Anonymous".utf8) {
                field = \.anonymous
            } else if key.elementsEqual("Private_Hugetlb".utf8) || key.elementsEqual("Shared_Hugetlb".utf8) {
                field = \.hugePages
            } else {
                continue
            }
            var value = 0
            var digits = 0
            for byte in line[(colon + 1)...] where byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                guard digits < 18 else { throw MemoryError(.unexpectedFormat, "an smaps value is out of range") }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            }
            if field == \.hugePages {
                mappings[mappings.count - 1].hugePages.bytes += MemorySize(kibibytes: value).bytes  // private and shared
            } else {
                mappings[mappings.count - 1][keyPath: field] = MemorySize(kibibytes: value)
            }
        }
        return mappings
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// "7f0000000000-7f0000021000 rw-p 00000000 00:00 0    [heap]": nil for a line that is not a mapping's header.
    private static func header(_ line: ArraySlice<UInt8>) -> Mapping? {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5 else { return nil }
        let range = fields[0].split(separator: UInt8(ascii: "-"))
        guard range.count == 2, let start = UInt64(String(decoding: range[0], as: UTF8.self), radix: 16),
            let end = UInt64(String(decoding: range[1], as: UTF8.self), radix: 16), start <= end, fields[1].count == 4
        else { return nil }
        var path = ""
        if fields.count == 6 {
            // The path is the rest of the line after the inode, spaces and all (" (deleted)" included).
            path = String(decoding: fields[5].drop { $0 == UInt8(ascii: " ") }, as: UTF8.self)
        }
        return Mapping(
            start: start, end: end, permissions: String(decoding: fields[1], as: UTF8.self), path: path,
            resident: .zero, proportional: .zero, swapped: .zero, anonymous: .zero, category: .otherAnonymous,
            device: String(decoding: fields[3], as: UTF8.self))
    }
}
