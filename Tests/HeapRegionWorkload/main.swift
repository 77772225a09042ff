// heap-region-workload: a program that profiles a piece of its own work with HeapRegion, for the tests. Before the
// region it allocates 100 Items (200-byte payloads) it keeps; inside, 1,000 Items (100-byte payloads) it keeps and
// 500 temporary arrays of 8 Ints (with the argument `async`, in an async function profiled with the async form). It prints what the region's profile says, one line of key=value pairs, or
// "error: …" and exits 3 when the profile cannot be made; then the profile's report, as mprof heap prints it.
import Glibc
import MemoryProfiler
import MemoryReports

final class Item {
    let payload: [UInt8]
    init(bytes: Int) { payload = [UInt8](repeating: 1, count: bytes) }
}

nonisolated(unsafe) var kept: [Item] = []
nonisolated(unsafe) var checksum = 0

@inline(never) func prepare() {
    for _ in 0..<100 { kept.append(Item(bytes: 200)) }
}

@inline(never) func sink(_ array: [Int]) { checksum &+= array[0] }

@inline(never) func work() {
    for _ in 0..<1000 { kept.append(Item(bytes: 100)) }
    for index in 0..<500 { sink([Int](repeating: index, count: 8)) }
}

@inline(never) func asynchronousWork() async {
    for _ in 0..<1000 { kept.append(Item(bytes: 100)) }
    await Task.yield()
    for index in 0..<500 { sink([Int](repeating: index, count: 8)) }
}

prepare()
do {
    // `heap-region-workload async`: the same work in an async function, profiled with the async form.
    let heap: HeapProfile
    if CommandLine.arguments.dropFirst().first == "async" {
        heap = try await HeapRegion.profile { await asynchronousWork() }.heap
    } else {
        heap = try HeapRegion.profile { work() }.heap
    }
    let items = heap.sites(.allocated).filter { $0.typeName == "Item" }
    let payloads = heap.sites(.allocated).filter { $0.typeName == nil && $0.bytes > 0 }.flatMap { site in
        site.allocations >= 1000 && site.stack.contains { $0.function.hasPrefix("Item.init") } ? [site] : []
    }
    let fromPrepare = heap.sites(.allocated).filter { $0.stack.contains { $0.function.hasPrefix("prepare") } }
    print(
        "allocations=\(heap.summary.allocations) items=\(items.reduce(0) { $0 + $1.allocations })",
        "payloads=\(payloads.reduce(0) { $0 + $1.allocations }) payloadBytes=\(payloads.reduce(0) { $0 + $1.bytes })",
        "temporaries=\(heap.summary.temporaries) fromPrepare=\(fromPrepare.count) notFreed=\(heap.summary.blocksNotFreed)",
        "top=\(heap.sites(.peak).first?.frame.function ?? "-")")
    // The report as mprof heap prints it, from the library.
    print("--- report ---")
    print(heap.text(sections: [.summary, .peak], top: 3, stackDepth: 1), terminator: "")
} catch {
    print("error: \(error)")
    exit(3)
}
