import BenchmarkSupport
import MemoryProfiler

// What a memory budget on a test costs per allocation: the same loop of malloc and free (64 bytes) timed bare, in a
// heap scope (the counts a budget needs), and in a scope whose stacks are recorded (the sites a failing budget
// names) — as `swift test` runs it under `mprof test`. Run by Benchmarks/budget-side-by-side.sh, which also runs it
// without the hook and under `mprof run --heap` for comparison.
//
//   budget-benchmark [allocations] [rounds]
let arguments = CommandLine.arguments
let allocations = arguments.count > 1 ? Int(arguments[1]) ?? 2_000_000 : 2_000_000
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 7 : 7

@inline(never)
func churn(_ count: Int) {
    for _ in 0..<count {
        let block = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        block.storeBytes(of: 1, as: UInt8.self)
        block.deallocate()
    }
}

func nanosecondsPerAllocation(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    let (seconds, attoseconds) = elapsed.components
    return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(allocations)
}

var bare: [Double] = [], scoped: [Double] = [], withStacks: [Double] = []
churn(allocations / 10)  // warm the allocator
for round in 0..<rounds {
    bare.append(nanosecondsPerAllocation { churn(allocations) })
    guard HeapScope.isAvailable else { continue }
    scoped.append(try nanosecondsPerAllocation { _ = try HeapScope.measure { churn(allocations) } })
    if round == 0 { try HeapScope.recordStacks() }
    withStacks.append(try nanosecondsPerAllocation { _ = try HeapScope.measure { churn(allocations) } })
}
func cell(_ values: [Double]) -> String { values.isEmpty ? "n/a" : TableText.fixed(TableText.median(values), 1) }
print("bare \(cell(bare)) scope \(cell(scoped)) scope+stacks \(cell(withStacks))")
