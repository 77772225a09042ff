// Run: swift run line-profile
// The report prints when the program exits. MPROF_LINE_STYLE=classic gives memory_profiler's columns only.
import MemoryProfilerMacros

@MemoryProfiled
func buildTable(rows: Int) -> [[Double]] {
    var table: [[Double]] = []
    for row in 0..<rows {
        table.append([Double](repeating: Double(row), count: 100_000))  // 0.8 MB a row, kept
    }
    let total = [Double](repeating: 1, count: 4_000_000).reduce(0, +)  // 32 MB, gone by the next line
    print("sum of the temporary:", total)
    return table
}

let table = buildTable(rows: 20)
print("rows:", table.count)
