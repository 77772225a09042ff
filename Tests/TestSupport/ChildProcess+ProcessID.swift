import MemoryProfiler
import MemoryProfilerSystem

extension ChildProcess {
    /// The child as a process to measure.
    package var id: ProcessID { ProcessID(pid) }
}
