// memory-workload: a real process for the tests to measure. It allocates, frees, forks and reads itself on
// command, one command per line on standard input, one answer per line on standard output:
//
//   alloc MIB          allocate and touch MIB mebibytes        -> ok
//   free               free everything allocated               -> ok
//   read               read itself with rss, peak, maxrss, heap -> {"rss":…,"peak":…,"maxrss":…,"heap":…} (bytes)
//   reset-self         reset its own peak (clear_refs)         -> ok
//   spawn N MIB        from each of two threads, start N children that each hold MIB -> ok PID PID …
//   probe PID|self READER        read a process with READER  -> ok BYTES | error CODE
//   reset PID|self     reset a process's peak                  -> ok | error CODE
//   drop-root          become `nobody` if root, to act as another user -> ok
//   exit CODE          exit with that status
//   segv               die of SIGSEGV
//   ignore-sigint      ignore SIGINT from now on              -> ok
//   small MIB SIZE     allocate MIB mebibytes in malloc blocks of SIZE bytes, touched -> ok COUNT
//   free-small EVERY   free the small blocks, all but every EVERY-th (0: all) -> ok
//   malloc-stats       MallocStatistics.current()             -> ok {"allocator":…,"inUse":…,…} | error CODE MESSAGE
//   allocator-witness  bytes in use from the allocator's own text report -> ok BYTES | error WHY
//   trimmable          MallocStatistics.trimmable()           -> ok BYTES | error CODE MESSAGE
//   trim               malloc_trim(0)                         -> ok
//
// End of input ends it, and its children with it. `memory-workload hold MIB` allocates, prints `ok`, and waits
// for end of input without reading commands; `memory-workload hold MIB --exit` exits right after `ok`.
import Dispatch
import Glibc
import MemoryProfiler
import MemoryProfilerSystem

func reply(_ line: String) {
    print(line)
    fflush(nil)
}

func allocateTouched(mebibytes: Int) -> UnsafeMutableRawPointer {
    let bytes = mebibytes << 20
    let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    block.initializeMemory(as: UInt8.self, repeating: 0x5A, count: bytes)
    return block
}

func waitForEndOfInput() {
    while readLine() != nil {}
}

/// Children started by `spawn`, kept so that they end with us.
final class Children: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var processes: [ChildProcess] = []

    init() { pthread_mutex_init(&lock, nil) }

    func add(_ child: ChildProcess) {
        pthread_mutex_lock(&lock)
        processes.append(child)
        pthread_mutex_unlock(&lock)
    }

    var all: [ChildProcess] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return processes
    }

    func endAll() {
        for child in all {
            child.closePipes()
            _ = try? child.wait()
        }
    }
}

let executable = CommandLine.arguments[0]
let children = Children()

/// Spawning threads stay alive until we end, so that their children stay listed under them
/// (`/proc/PID/task/TID/children`); a thread that exits hands its children to another thread.
let spawnersReady = DispatchSemaphore(value: 0)
let spawnersRelease = DispatchSemaphore(value: 0)

/// Starts `count` children holding `mebibytes` each from a new thread, which signals `spawnersReady` once each
/// child said it is ready and then waits for `spawnersRelease`.
func spawnFromThread(count: Int, mebibytes: Int) {
    final class Job: @unchecked Sendable {
        let count: Int
        let mebibytes: Int
        init(count: Int, mebibytes: Int) {
            self.count = count
            self.mebibytes = mebibytes
        }
    }
    let job = Unmanaged.passRetained(Job(count: count, mebibytes: mebibytes)).toOpaque()
    var thread = pthread_t()
    pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        let job = Unmanaged<Job>.fromOpaque(argument).takeRetainedValue()
        for _ in 0..<job.count {
            guard
                let child = try? ChildProcess.spawn(
                    executable, arguments: ["hold", String(job.mebibytes)], standardInput: .pipe,
                    standardOutput: .pipe)
            else { continue }
            _ = readLine(from: child.standardOutput ?? -1)
            children.add(child)
        }
        spawnersReady.signal()
        spawnersRelease.wait()
        return nil
    }, job)
    pthread_detach(thread)
}

func readLine(from descriptor: Int32) -> String? {
    var bytes: [UInt8] = []
    var byte: UInt8 = 0
    while read(descriptor, &byte, 1) == 1 {
        if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
        bytes.append(byte)
    }
    return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
}

/// Drops from root to `nobody`, so that the commands after it act as another user would.
func dropRoot() -> Bool {
    getuid() != 0 || (setgid(65534) == 0 && setuid(65534) == 0)
}

func targetProcess(_ word: String) -> ProcessID {
    word == "self" ? ProcessID.current : ProcessID(Int32(word) ?? 0)
}

/// The bytes in use as the allocator's own text report says (not the calls MallocStatistics makes): jemalloc's
/// `malloc_stats_print`, gperftools' `MallocExtension_GetStats`, glibc's `malloc_stats` (which prints on standard
/// error, sent to a file for the moment). "ok BYTES", or "error WHY".
func allocatorWitness() -> String {
    typealias Writer = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
    typealias StatsPrint = @convention(c) (Writer?, UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
    typealias GetStats = @convention(c) (UnsafeMutablePointer<CChar>?, Int32) -> Void
    /// The text after the first `key` in `text` (no Foundation here).
    func after(_ key: String, in text: String) -> Substring? {
        let key = Array(key.utf8), bytes = Array(text.utf8)
        guard !key.isEmpty, bytes.count >= key.count else { return nil }
        for start in 0...(bytes.count - key.count) where bytes[start..<start + key.count].elementsEqual(key) {
            let index = text.utf8.index(text.utf8.startIndex, offsetBy: start + key.count)
            return text[index...]
        }
        return nil
    }
    func number(after key: String, in text: String) -> Int? {
        guard let rest = after(key, in: text) else { return nil }
        return Int(rest.drop { $0 == " " || $0 == "=" || $0 == ":" }.prefix { $0.isNumber })
    }
    let statistics = try? MallocStatistics.current()
    switch statistics?.allocator {
    case .jemalloc?:
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_stats_print") else { return "error no malloc_stats_print" }
        final class Text { var value = "" }
        let text = Text()
        // JSON of the totals only: no general information, no arenas, bins, extents or mutexes.
        unsafeBitCast(symbol, to: StatsPrint.self)({ context, chunk in
            guard let context, let chunk else { return }
            Unmanaged<Text>.fromOpaque(context).takeUnretainedValue().value += String(cString: chunk)
        }, Unmanaged.passUnretained(text).toOpaque(), "Jgmdablxeh")
        return number(after: "\"allocated\"", in: text.value).map { "ok \($0)" } ?? "error \(text.value.prefix(300))"
    case .tcmalloc?:
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "MallocExtension_GetStats") else { return "error no MallocExtension_GetStats" }
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        unsafeBitCast(symbol, to: GetStats.self)(&buffer, Int32(buffer.count))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // "MALLOC:      52428800 (   50.0 MiB) Bytes in use by application"
        guard let line = text.split(separator: "\n").first(where: { after("Bytes in use by application", in: String($0)) != nil }) else {
            return "error \(text.prefix(300))"
        }
        return number(after: "MALLOC:", in: String(line)).map { "ok \($0)" } ?? "error \(line)"
    case .glibc?:
        var name = Array("/tmp/malloc-stats-XXXXXX".utf8CString)
        let file = mkstemp(&name)
        guard file >= 0 else { return "error mkstemp" }
        unlink(name)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_stats") else { return "error no malloc_stats" }
        fflush(nil)
        let saved = dup(2)
        dup2(file, 2)
        unsafeBitCast(symbol, to: (@convention(c) () -> Void).self)()
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        lseek(file, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        let count = read(file, &bytes, bytes.count)
        close(file)
        let text = String(decoding: bytes[..<max(count, 0)], as: UTF8.self)
        // "Total (incl. mmap):\nsystem bytes     = …\nin use bytes     = …"
        guard let total = after("Total (incl. mmap):", in: text) else { return "error \(text.prefix(300))" }
        return number(after: "in use bytes", in: String(total)).map { "ok \($0)" } ?? "error \(text.prefix(300))"
    case nil:
        return "error no allocator statistics"
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "hold", arguments.count >= 2, let mebibytes = Int(arguments[1]) {
    let block = allocateTouched(mebibytes: mebibytes)
    reply("ok")
    if arguments.last != "--exit" { waitForEndOfInput() }
    block.deallocate()
    exit(0)
}

let probes: [(String, MemoryProbe?)]
do {
    // No heap reading under an allocator mprof cannot read (mimalloc): "heap" reads -1 there.
    probes = try [MemoryReader.rss, .peak, .maxrss].map { ($0.rawValue, try MemoryProbe($0)) } + [("heap", try? MemoryProbe(.heap))]
} catch {
    reply("error \(error)")
    exit(1)
}
var blocks: [UnsafeMutableRawPointer] = []
// The small blocks' addresses live outside the malloc heap (in memory from mmap), so that the heap grows by the
// blocks alone.
let smallCapacity = 1 << 22
guard let smallStorage = mmap(nil, smallCapacity * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
    smallStorage != MAP_FAILED
else {
    reply("error mmap")
    exit(1)
}
let smallBlocks = smallStorage.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: smallCapacity)
var smallCount = 0

while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    switch words.first {
    case "alloc":
        blocks.append(allocateTouched(mebibytes: Int(words[1]) ?? 0))
        reply("ok")
    case "free":
        for block in blocks { block.deallocate() }
        blocks.removeAll()
        reply("ok")
    case "read":
        let fields = probes.map { name, probe in
            "\"\(name)\":\((try? probe?.read().bytes) ?? -1)"
        }
        reply("{\(fields.joined(separator: ","))}")
    case "reset-self":
        do {
            try probes[1].1?.resetPeak()
            reply("ok")
        } catch {
            reply("error \(error)")
        }
    case "spawn":
        let count = Int(words[1]) ?? 1
        let mebibytes = Int(words[2]) ?? 1
        spawnFromThread(count: count, mebibytes: mebibytes)
        spawnFromThread(count: count, mebibytes: mebibytes)
        spawnersReady.wait()
        spawnersReady.wait()
        reply((["ok"] + children.all.map { String($0.pid) }).joined(separator: " "))
    case "probe":
        do {
            let probe = try MemoryProbe(MemoryReader(rawValue: words[2]) ?? .rss, process: targetProcess(words[1]))
            reply("ok \(try probe.read().bytes)")
        } catch {
            reply("error \(error.code)")
        }
    case "reset":
        do {
            try MemoryProbe(.peak, process: targetProcess(words[1])).resetPeak()
            reply("ok")
        } catch {
            reply("error \(error.code)")
        }
    case "small":
        // MIB mebibytes in malloc blocks of SIZE bytes, each touched.
        let size = max(Int(words[2]) ?? 1016, 1)
        let count = ((Int(words[1]) ?? 0) << 20) / size
        for _ in 0..<min(count, smallCapacity - smallCount) {
            guard let block = malloc(size) else { break }
            memset(block, 0x5A, size)
            smallBlocks[smallCount] = block
            smallCount += 1
        }
        reply("ok \(count)")
    case "free-small":
        // All but every EVERY-th (0: all), so that the freed memory is spread between blocks still in use.
        let every = Int(words[1]) ?? 0
        for index in 0..<smallCount where every == 0 || index % every != 0 {
            free(smallBlocks[index])
            smallBlocks[index] = nil
        }
        reply("ok")
    case "malloc-stats":
        do {
            let statistics = try MallocStatistics.current()
            reply(
                "ok {\"allocator\":\"\(statistics.allocator.rawValue)\",\"library\":\"\(statistics.library)\","
                    + "\"inUse\":\(statistics.inUse.bytes),\"heldFree\":\(statistics.heldFree.bytes),"
                    + "\"releasableAtTop\":\(statistics.releasableAtTop?.bytes ?? -1),\"retained\":\(statistics.retained?.bytes ?? -1)}")
        } catch {
            reply("error \(error.code) \(error.message)")
        }
    case "trimmable":
        do {
            reply("ok \(try MallocStatistics.trimmable().bytes)")
        } catch {
            reply("error \(error.code) \(error.message)")
        }
    case "trim":
        // glibc's malloc_trim(0), through the dynamic linker (not every C library has it).
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
            reply("ok")
        } else {
            reply("error no malloc_trim")
        }
    case "allocator-witness":
        reply(allocatorWitness())
    case "drop-root":
        reply(dropRoot() ? "ok" : "error cannot drop root")
    case "exit":
        children.endAll()
        exit(Int32(words[1]) ?? 0)
    case "segv":
        // Swift's backtracer would catch a signal sent with kill, print, and let the program go on.
        signal(SIGSEGV, SIG_DFL)
        kill(getpid(), SIGSEGV)
    case "ignore-sigint":
        signal(SIGINT, SIG_IGN)
        reply("ok")
    default:
        reply("error unknown command: \(line)")
    }
}
children.endAll()
