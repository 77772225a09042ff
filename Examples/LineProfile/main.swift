import MemoryProfilerMacros

@MemoryProfiled
func buildTable(rows: Int) -> [[Double]] {
    var table: [[Double]] = []
    for row in 0..<rows {
        table.append([Double](repeating: Double(row), count: 100_000))
    }
    let scratch = [Double](repeating: 1, count: 4_000_000)
    let total = scratch.reduce(0, +)
    print("total", total)
    return table
}

let table = buildTable(rows: 20)
print(table.count)
