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

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "hold", arguments.count >= 2, let mebibytes = Int(arguments[1]) {
    let block = allocateTouched(mebibytes: mebibytes)
    reply("ok")
    if arguments.last != "--exit" { waitForEndOfInput() }
    block.deallocate()
    exit(0)
}

let probes: [(String, MemoryProbe)]
do {
    probes = try [MemoryReader.rss, .peak, .maxrss, .heap].map { ($0.rawValue, try MemoryProbe($0)) }
} catch {
    reply("error \(error)")
    exit(1)
}
var blocks: [UnsafeMutableRawPointer] = []

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
            "\"\(name)\":\((try? probe.read().bytes) ?? -1)"
        }
        reply("{\(fields.joined(separator: ","))}")
    case "reset-self":
        do {
            try probes[1].1.resetPeak()
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
