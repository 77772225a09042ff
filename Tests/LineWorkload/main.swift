// Profiled functions the line-profiling tests run in a process of their own, one scenario per argument, so
// each measures memory no other test disturbs. The tests read the report from MPROF_LINE_JSON.
#if canImport(Glibc)
import Glibc
#endif
import MemoryProfilerMacros

func touched(mebibytes: Int) -> UnsafeMutableRawPointer {
    let bytes = mebibytes << 20
    let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    block.initializeMemory(as: UInt8.self, repeating: 0xA5, count: bytes)
    return block
}

/// A line that keeps 200 MiB, then a temporary of 100 MiB freed within one line.
@MemoryProfiled
func allocateAndRelease() -> Int {
    let kept = touched(mebibytes: 200)  // keeps 200 MiB
    let sum = withTemporary(mebibytes: 100)  // 100 MiB come and go
    kept.deallocate()  // gives 200 MiB back
    return sum
}

func withTemporary(mebibytes: Int) -> Int {
    let block = touched(mebibytes: mebibytes)
    defer { block.deallocate() }
    return Int(block.load(as: UInt8.self))
}

@MemoryProfiled
func loops(_ count: Int) -> Int {
    var total = 0
    for value in 0..<count {  // for header
        total += value  // for body
    }
    var index = 0
    while index < count {  // while header
        index += 1
    }
    repeat {
        index -= 1
    } while index > 0  // repeat condition
    outer: for row in 0..<3 {  // labelled header
        for column in 0..<3 {
            if column == 1 { continue outer }  // continue outer
            if row == 2 { break outer }
            total += column
        }
    }
    for _ in 0..<count {}
    return total
}

enum Failure: Error { case bad(Int) }

@MemoryProfiled
func controlFlow(_ value: Int) throws(Failure) -> String {
    var log: [String] = []
    defer { log.removeAll() }  // defer line
    guard value >= 0 else {
        throw .bad(value)  // guard throw
    }
    if value % 2 == 0 {
        log.append("even")  // even branch
    } else if value % 3 == 0 {
        log.append("three")  // three branch
    } else {
        log.append("odd")  // odd branch
    }
    switch value {
    case 0:
        log.append("zero")  // case zero
        fallthrough
    case 1:
        log.append("small")  // case small
    default:
        log.append("large")  // case default
    }
    do {
        try check(value)  // do try
        log.append("checked")  // after try
    } catch {
        log.append("caught")  // catch body
    }
    #if os(Linux)
    log.append("linux")  // if-config line
    #endif
    let reportedLine = #line  // hash line
    log.append(String(reportedLine))
    func helper() -> Int { log.count }  // local function
    let closure = { (x: Int) in x * 2 }  // closure line
    log.append(String(closure(helper())))
    return log.joined(separator: ",")
}

func check(_ value: Int) throws {
    if value > 10 { throw Failure.bad(value) }
}

@MemoryProfiled
func singleExpression(_ value: Int) -> Int { value * 3 }

@MemoryProfiled
func generic<Element: Numeric>(_ values: [Element]) -> Element {
    var sum: Element = 0
    for value in values { sum += value }
    return sum
}

@MemoryProfiled
func recursive(_ depth: Int) -> Int {
    let block = touched(mebibytes: 8)  // 8 MiB per level
    defer { block.deallocate() }
    if depth == 0 { return 0 }
    return recursive(depth - 1) + 1  // recursive call
}

@MemoryProfiled
func asynchronous(_ value: Int) async -> Int {
    let before = value + 1
    await Task.yield()  // suspension point
    let after = before * 2
    return after
}

final class Buffer {
    var storage: UnsafeMutableRawPointer

    @MemoryProfiled
    init(mebibytes: Int) {
        storage = touched(mebibytes: mebibytes)  // init allocation
    }

    @MemoryProfiled
    deinit {
        storage.deallocate()  // deinit release
    }
}

class Base {
    let size: Int
    init(size: Int) { self.size = size }
}

final class Derived: Base {
    let label: String

    @MemoryProfiled
    init(label: String) {
        self.label = label  // before super.init
        super.init(size: label.count)
    }

    @MemoryProfiled
    convenience init() {
        let label = "convenience"  // before self.init
        self.init(label: label)
    }

    @MemoryProfiled
    static func make() -> Derived { Derived() }

    @MemoryProfiled
    func apply(_ body: (Int) throws -> Void) rethrows {
        try body(size)  // rethrown call
    }
}

actor Counter {
    var count = 0

    @MemoryProfiled
    func increment(by step: Int) -> Int {
        count += step  // actor state
        return count
    }
}

struct Accumulator {
    var values: [Int] = []

    @MemoryProfiled
    mutating func add(_ value: Int) {
        values.append(value)  // mutating append
    }
}

@MemoryProfiled
func threadWork(_ index: Int) -> Int {
    let block = touched(mebibytes: 4)  // thread allocation
    let value = Int(block.load(as: UInt8.self)) + index
    block.deallocate()
    return value
}

@MemoryProfiled
func grow() -> Int {
    var blocks: [UnsafeMutableRawPointer] = []
    for _ in 0..<6 {
        blocks.append(touched(mebibytes: 32))  // 32 MiB each
    }
    blocks.forEach { $0.deallocate() }
    return blocks.count
}

@MemoryProfiled
func trailingLoop(_ count: Int) -> Int {
    var total = 0
    for value in 0..<count {  // trailing header
        total += value
    }
    return total
}

@MemoryProfiled
func endsWithLoop(_ count: Int) {
    for _ in 0..<count {  // last statement header
        _ = count
    }
}

@MemoryProfiled
func leavesLoopEarly(_ values: [Int]) -> Int? {
    for value in values {  // search header
        if value > 2 { return value }  // found it
    }
    return nil
}

@MemoryProfiled
func label(_ value: Int) -> String {
    if value > 0 { "positive" } else if value < 0 { "negative" } else { "zero" }
}

@MemoryProfiled
func describe(_ value: Int) -> String {
    switch value {
    case 0: return "zero"  // switch with returns
    default: return "other"
    }
}

@MemoryProfiled
func unimplemented() -> Int { fatalError("never called") }

@MemoryProfiled
func nothingToDo() {}

@MemoryProfiled
func onlyDeclarations() {
    func unused() {}
}

func callerLine(_ line: Int = #line) -> Int { line }

@MemoryProfiled
func defaultArgumentLine() -> Int {
    callerLine()  // default argument line
}

/// Maps memory the kernel fills in at once (no page fault in user code), and unmaps it.
func populateAndRelease(mebibytes: Int) -> Int {
    let size = mebibytes << 20
    let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
    munmap(mapped, size)
    return size
}

@MemoryProfiled
func populate() -> Int {
    let size = populateAndRelease(mebibytes: 64)  // populated and gone
    return size
}

func runThreads(count: Int) {
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(index as AnyObject).toOpaque()
        pthread_create(&thread, nil, { argument in
            let index = Unmanaged<AnyObject>.fromOpaque(argument!).takeRetainedValue() as! Int
            for _ in 0..<50 { _ = threadWork(index) }
            return nil
        }, box)
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// Allocations counted per line, with the heap hook loaded: 100 arrays of 1,000 bytes (and the array holding them)
/// on one line, none on the next, while another thread allocates all the time.
@MemoryProfiled
func countedAllocations() -> Int {
    let arrays = (0..<100).map { [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: 1000) }  // 100 arrays
    var total = 0
    for array in arrays { total &+= Int(array[999]) }  // reads only
    return total &+ arrays.count
}

nonisolated(unsafe) var backgroundRuns = true

func countedWithBackgroundAllocations() -> Int {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        while backgroundRuns {
            for _ in 0..<1000 { free(malloc(64)) }
        }
        return nil
    }, nil)
    usleep(20_000)
    var result = 0
    for _ in 0..<20 { result &+= countedAllocations() }
    backgroundRuns = false
    pthread_join(thread, nil)
    return result
}

let scenario = CommandLine.arguments.dropFirst().first ?? ""
switch scenario {
case "allocate":
    print(allocateAndRelease())
case "loops":
    print(loops(5))
case "control":
    print(try controlFlow(0))
    print(try controlFlow(9))
    print(try controlFlow(7))
    print(try controlFlow(12))
    print((try? controlFlow(-1)) ?? "thrown")
case "kinds":
    print(singleExpression(14))
    print(generic([1.5, 2.5]), generic([1, 2, 3]))
    print(recursive(4))
    print(await asynchronous(20))
    var buffer: Buffer? = Buffer(mebibytes: 16)
    _ = buffer
    buffer = nil
    print(await Counter().increment(by: 3))
    var accumulator = Accumulator()
    accumulator.add(5)
    print(accumulator.values)
    let derived = Derived.make()
    try? derived.apply { size in if size > 5 { throw Failure.bad(size) } }
    print(derived.label)
case "block":
    let result = #memoryProfiled("block") {
        let first = touched(mebibytes: 64)  // block allocation
        first.deallocate()
        return 42
    }
    let asyncResult = await #memoryProfiled("async block") {
        await Task.yield()
        return 7
    }
    print(result, asyncResult)
case "edges":
    print(trailingLoop(4), leavesLoopEarly([1, 2, 3, 4]) ?? 0, label(-3), describe(0))
    endsWithLoop(3)
    nothingToDo()
    onlyDeclarations()
    print("default-line", defaultArgumentLine())
    print(populate())
    let captured = 5
    let block = #memoryProfiled { captured * 2 }
    print(block)
    if CommandLine.arguments.count > 5 { print(unimplemented()) }
case "threads":
    runThreads(count: 4)
case "grow":
    print(grow())
case "counted":
    print(countedWithBackgroundAllocations())
case "counted-alone":
    var result = 0
    for _ in 0..<20 { result &+= countedAllocations() }
    print(result)
default:
    print("usage: line-workload allocate|loops|control|kinds|block|threads|grow")
    exit(2)
}
