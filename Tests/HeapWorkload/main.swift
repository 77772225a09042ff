// heap-workload: the heap profiler's truth workload. Its allocation sites make allocations in numbers and sizes known
// exactly, so the tests (and heaptrack, the peer) can be checked against them. Stdlib and Glibc only. Every site is an
// @inline(never), non-generic function, so its name is on the stack in debug and -O builds alike.
//
//   heap-workload known-sites [N X M K]   (defaults 30000 1000 100000 500)   -> ok
//   heap-workload threads [T N S]         (defaults 8 100000 64)              -> ok
//   heap-workload churn-only [M]          (default 1000000)                   -> ok
//   heap-workload mixed [M]               (default 1000000)                   -> ok
//   anything else: a one-line error on standard error, exit status 2.
//
// Sizes are the bytes asked of malloc (swift_allocObject asks swift_slowAlloc, which asks malloc, for exactly the
// object's size); a Swift array buffer is a 32-byte header (object header, count, capacity) and its elements.
//
// known-sites N X M K, in this order:
//   (a) buildIndex(count: N, payload: X)
//       - 1 buffer of the global `heldNodes` ([Node], reserveCapacity(N)): 32 + 8N bytes (none if N = 0)
//       - N Node objects, 32 bytes each (header 16, id, payload), from Node.__allocating_init(id:payloadBytes:)
//       - N payload buffers, 32 + X bytes each, from Array.init(repeating:count:) in Node.init(id:payloadBytes:)
//         (none if X = 0: an empty array is the shared empty singleton)
//       all live at the peak and at exit, never freed, reachable from `heldNodes`.
//   (b) churn(count: M): M array buffers of 160 bytes ([Int] of 16), each freed right after its malloc with nothing
//       in between: M allocations, M frees, M temporaries (heaptrack's definition).
//   (c) makeCycles(count: K): 2K CyclePartner objects, 32 bytes each (header 16, other, id), from
//       CyclePartner.__allocating_init(id:); pairs that reference each other, unreachable once makeCycles returns:
//       never freed, a real leak.
//   Defaults: 161,001 allocations at the sites (30,000 Nodes of 32 B, 30,000 payloads of 1,032 B, 1 index buffer
//   of 240,032 B, 100,000 temporaries of 160 B, 1,000 CyclePartners of 32 B); 32,192,032 bytes not freed at exit
//   (all of (a) and (c)), which is also the sites' part of the peak (reached at exit, after makeCycles).
//   Measured with heaptrack 1.4 (release; debug alike): "calls to allocation functions: 161050", "temporary memory
//   allocations: 100008", "peak heap memory consumption: 32.27M", "total memory leaked: 32.20M"; per site exactly
//   the numbers above. heaptrack calls all of (a) and (c) leaked: it cannot tell the reachable nodes from the cycles.
//
// threads T N S: T threads (pthread_create), each mallocFreeLoop(iterations: N, bytes: S): N times malloc(S), a store
//   into the block, free. Exactly T*N mallocs and frees of S bytes in mallocFreeLoop(iterations:bytes:), nothing
//   left at exit. heaptrack counts only 95-98% of them as temporaries (765,779 to 783,798 of 800,000 for the
//   defaults, varying run to run): its "free right after the malloc" is process-wide, and the threads interleave.
// churn-only M: (b) alone, M temporaries of 160 bytes (the speed benchmark's workload; about 0.21 s for 4,000,000
//   in release on the 2-core CI machine).
// mixed M: M arrays of 32 + 8 * (1 + i % 61) bytes (40 to 512), from evenArray(_:) for even i and oddArray(_:) for odd
//   i (M/2 each, rounded up for evenArray), each kept in a global ring of 1000 slots (one buffer of 8,032 bytes) and
//   freed by the array that takes its slot 1000 allocations later: M allocations, max(M - 1000, 0) frees, no
//   temporaries (the array that frees one has another size), min(M, 1000) arrays live at exit. 122 distinct
//   (site, size) pairs. oddArray fills with ~i so that -O does not merge the two functions into one (identical ones
//   were merged: every array showed under evenArray). The ring has 1000 slots, not 1024: with 1024 the replacing
//   array had the freed one's size and site, and heaptrack, which compares those rather than the pointer, counted
//   it a temporary.
//
// Besides the sites, every run makes a few dozen other allocations that no test should count exactly: the runtime's
// start-up (protocol conformances, the executable's path), CommandLine.arguments and the parsing of the arguments,
// generic metadata made on first use (several dozen more in `mixed` for the ring's type, and in debug builds one
// 80-byte temporary in buildIndex), and glibc's stdout buffer on the first print. heaptrack counted 49 (release) and
// 150-151 (debug) for known-sites with the defaults.
import Glibc

// MARK: - known-sites

/// One entry of the index that `buildIndex` builds: a 32-byte object (16-byte header, `id`, `payload`'s buffer
/// reference) and a payload buffer of its own.
final class Node {
    let id: Int
    let payload: [UInt8]

    init(id: Int, payloadBytes: Int) {
        self.id = id
        payload = [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: payloadBytes)
    }
}

/// Half of a retain cycle: a 32-byte object (16-byte header, `other`, `id`).
final class CyclePartner {
    var other: CyclePartner?
    let id: Int

    init(id: Int) { self.id = id }
}

/// Everything `buildIndex` made, held until exit: live at the heap's peak, never freed, reachable.
nonisolated(unsafe) var heldNodes: [Node] = []
/// The last pair `makeCycles` made, the only way out of the function for its objects, so that -O cannot put them
/// on the stack; set to nil at the end, which leaves every pair unreachable.
nonisolated(unsafe) var lastCycle: CyclePartner?
/// What `sink` read, so that neither the reads nor the arrays can be optimized away.
nonisolated(unsafe) var checksum = 0

/// (a) One buffer of 32 + 8 * count bytes, then count Nodes of 32 bytes, each with a payload of 32 + payload bytes.
@inline(never)
func buildIndex(count: Int, payload: Int) {
    heldNodes.reserveCapacity(count)
    for i in 0..<count {
        heldNodes.append(Node(id: i, payloadBytes: payload))
    }
}

/// Reads the array, opaquely enough that -O must allocate it on the heap; it does not keep it.
@inline(never)
func sink(_ array: [Int]) {
    checksum &+= array[array.count - 1]
}

/// (b) count arrays of 160 bytes, each freed right after it is made.
@inline(never)
func churn(count: Int) {
    for i in 0..<count {
        sink([Int](repeating: i, count: 16))
    }
}

/// (c) count pairs of 32-byte CyclePartners that hold each other, unreachable when it returns.
@inline(never)
func makeCycles(count: Int) {
    for i in 0..<count {
        let first = CyclePartner(id: 2 * i)
        let second = CyclePartner(id: 2 * i + 1)
        first.other = second
        second.other = first
        lastCycle = first
    }
    lastCycle = nil
}

// MARK: - mixed

/// The last `ringSlots` arrays `mixed` made: each lives for `ringSlots` iterations, then its slot's next array frees
/// it.
nonisolated(unsafe) var ring: [[Int]?] = []
let ringSlots = 1000

@inline(never)
func evenArray(_ i: Int) -> [Int] { [Int](repeating: i, count: 1 + i % 61) }

@inline(never)
func oddArray(_ i: Int) -> [Int] { [Int](repeating: ~i, count: 1 + i % 61) }

/// count arrays of 40 to 512 bytes from two sites, each freed 1000 allocations later by the one that takes its slot.
@inline(never)
func mixed(count: Int) {
    ring = [[Int]?](repeating: nil, count: ringSlots)
    for i in 0..<count {
        ring[i % ringSlots] = i % 2 == 0 ? evenArray(i) : oddArray(i)
    }
}

// MARK: - threads

/// mallocFreeLoop's arguments for every worker thread, set before the threads start.
nonisolated(unsafe) var workerIterations = 0
nonisolated(unsafe) var workerBytes = 0

/// Writes into the block, so that the malloc and free around it cannot be optimized away.
@inline(never)
func touch(_ block: UnsafeMutableRawPointer?) {
    block?.storeBytes(of: 1, as: UInt8.self)
}

/// iterations times: malloc(bytes), a store into the block, free.
@inline(never)
func mallocFreeLoop(iterations: Int, bytes: Int) {
    for _ in 0..<iterations {
        let block = malloc(bytes)
        touch(block)
        free(block)
    }
}

/// Each thread's start routine.
func workerMain(_: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    mallocFreeLoop(iterations: workerIterations, bytes: workerBytes)
    return nil
}

/// Starts count threads that each run mallocFreeLoop(iterations:bytes:), and joins them.
@inline(never)
func runThreads(count: Int, iterations: Int, bytes: Int) {
    workerIterations = iterations
    workerBytes = bytes
    var threads = [pthread_t](repeating: 0, count: count)
    for t in 0..<count {
        let status = pthread_create(&threads[t], nil, workerMain, nil)
        if status != 0 { fail("pthread_create failed: \(String(cString: strerror(status)))", code: 1) }
    }
    for t in 0..<count {
        pthread_join(threads[t], nil)
    }
}

// MARK: - command line

func fail(_ message: String, code: Int32 = 2) -> Never {
    var line = "heap-workload: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(code)
}

let usage = "usage: heap-workload known-sites [N X M K] | threads [T N S] | churn-only [M] | mixed [M]"

/// The arguments after the subcommand as counts, with `defaults` for the missing ones.
func counts(_ arguments: ArraySlice<String>, defaults: [Int], names: [String]) -> [Int] {
    if arguments.count > defaults.count { fail("too many arguments; \(usage)") }
    var values = defaults
    for (i, argument) in arguments.enumerated() {
        guard let value = Int(argument), value >= 0 else {
            fail("\(names[i]) must be a non-negative integer, not '\(argument)'; \(usage)")
        }
        values[i] = value
    }
    return values
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("no subcommand; \(usage)") }
let rest = arguments.dropFirst(2)
switch arguments[1] {
case "known-sites":
    let n = counts(rest, defaults: [30000, 1000, 100_000, 500], names: ["N", "X", "M", "K"])
    buildIndex(count: n[0], payload: n[1])
    churn(count: n[2])
    makeCycles(count: n[3])
case "threads":
    let n = counts(rest, defaults: [8, 100_000, 64], names: ["T", "N", "S"])
    if n[0] < 1 { fail("T must be at least 1; \(usage)") }
    runThreads(count: n[0], iterations: n[1], bytes: n[2])
case "churn-only":
    let n = counts(rest, defaults: [1_000_000], names: ["M"])
    churn(count: n[0])
case "mixed":
    let n = counts(rest, defaults: [1_000_000], names: ["M"])
    mixed(count: n[0])
default:
    fail("unknown subcommand '\(arguments[1])'; \(usage)")
}
print("ok")
