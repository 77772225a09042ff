internal import MemoryProfilerSystem

/// The first line during which a profiled program's memory went over ``LineProfilerConfiguration/memoryLimit``.
struct MemoryLimitCrossing {
    var function: String
    var file: String
    var line: Int
    var peak: MemorySize
    var limit: MemorySize

    /// Says so on standard error and, with `trapping`, raises `SIGTRAP` so that a debugger stops right after
    /// the line.
    func report(trapping: Bool) {
        StandardError.write(
            "swift-memory-profiler: memory limit \(limit.formatted(precision: 1)) crossed at "
                + "\(file):\(line) in \(function): \(peak.formatted(precision: 1)) during the line")
        if trapping { ProcessTable.raiseTrap() }
    }
}
