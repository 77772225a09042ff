// The seed post's experiment: arrays of growing size, each freed before the next, measured by every reader that
// can see the current process. `rss` and `heap` follow the memory in use; `peak` and `maxrss` are high-water
// marks and stay at the largest array, which is what the seed's author saw as `resource` "missing" freed memory.
//
//   swift run reader-comparison            a table, one row per array
//   swift run reader-comparison --json     one JSON object per row (the tests read this)
//   swift run reader-comparison --steps 8 --step-mebibytes 25
import Glibc
import MemoryProfiler

var steps = 10
var stepMebibytes = 20
var json = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--json": json = true
    case "--steps": steps = arguments.popFirst().flatMap { Int($0) } ?? steps
    case "--step-mebibytes": stepMebibytes = arguments.popFirst().flatMap { Int($0) } ?? stepMebibytes
    default:
        print("usage: reader-comparison [--json] [--steps N] [--step-mebibytes MIB]")
        exit(2)
    }
}

let readers: [MemoryReader] = [.rss, .pss, .uss, .peak, .maxrss, .heap]
let probes: [MemoryProbe]
do {
    probes = try readers.map { try MemoryProbe($0) }
} catch {
    print("Error: \(error)")
    exit(1)
}

func readAll() -> [MemorySize] {
    probes.map { (try? $0.read()) ?? MemorySize(bytes: -1) }
}

@MainActor
func row(_ label: String, _ values: [MemorySize]) {
    if json {
        let fields = zip(readers, values).map { "\"\($0.rawValue)\":\($1.bytes)" }
        print("{\"step\":\"\(label)\",\(fields.joined(separator: ","))}")
    } else {
        let cells = values.map { $0.formatted(precision: 1).leftPadded(to: 11) }
        print(label.leftPadded(to: 14) + cells.joined())
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: " ", count: max(0, width - count)) + self
    }
}

if !json {
    print("array".leftPadded(to: 14) + readers.map { $0.rawValue.leftPadded(to: 11) }.joined())
}
row("start", readAll())
for step in 1...steps {
    let bytes = step * stepMebibytes << 20
    let array = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    array.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
    row("\(step * stepMebibytes) MiB held", readAll())
    array.deallocate()
    row("freed", readAll())
}
do {
    try probes[readers.firstIndex(of: .peak) ?? 0].resetPeak()
    row("peak reset", readAll())
} catch {
    print("peak reset not permitted: \(error)")
}
