internal import MemoryProfilerSystem

#if os(Linux)

extension MemoryProbe {
    /// How a probe takes its readings on Linux: the file or call behind each reader, prepared at init.
    enum Backend: Sendable {
        case statm(ProcFile)
        case smapsRollup(ProcFile, unique: Bool)
        case status(ProcFile, peakReset: PeakReset)
        case resourceUsage(peakReset: PeakReset)
        case psCommand(executable: String)
        case mallocInfo

        init(reader: MemoryReader, process: ProcessID) throws(MemoryError) {
            switch reader {
            case .rss:
                self = .statm(try ProcFile.open("statm", of: process))
            case .pss, .uss:
                self = .smapsRollup(try ProcFile.open("smaps_rollup", of: process), unique: reader == .uss)
            case .peak:
                let status = try ProcFile.open("status", of: process)
                self = .status(status, peakReset: PeakReset(process: process))
            case .maxrss:
                self = .resourceUsage(peakReset: PeakReset(process: process))
            case .ps:
                guard let executable = ExecutableLookup.find("ps") else {
                    throw MemoryError(
                        .unavailable, "the ps command is not on PATH (Debian and Ubuntu: apt-get install procps)")
                }
                try process.requireExistence()
                self = .psCommand(executable: executable)
            case .heap:
                // The allocator really serving malloc, or an error that names it.
                _ = try MallocStatistics.current()
                self = .mallocInfo
            }
        }

        @inline(__always)
        func read(process: ProcessID) throws(MemoryError) -> MemorySize {
            switch self {
            case .statm(let file):
                return try Self.withBuffer(bytes: 128) { buffer throws(MemoryError) in
                    let count = try file.read(into: buffer, of: process, name: "statm")
                    var text = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                    guard let size = ProcText.field(0, in: text), ProcText.field(1, in: text) != nil else {
                        throw Self.unexpected("statm", process: process)
                    }
                    // A zombie or a kernel thread has no address space: all fields read 0. A process whose main
                    // thread has ended still has one, seen through its other threads.
                    if size == 0 {
                        guard
                            let count = process.readThroughLiveThread(
                                "statm", into: buffer, accept: { (ProcText.field(0, in: $0) ?? 0) > 0 })
                        else { throw process.noAddressSpaceError() }
                        text = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                    }
                    guard let resident = ProcText.field(1, in: text) else { throw Self.unexpected("statm", process: process) }
                    return MemorySize(bytes: resident &* ProcessMemory.pageSize)
                }
            case .smapsRollup(let file, let unique):
                return try Self.withBuffer(bytes: 4096) { buffer throws(MemoryError) in
                    var count = try file.read(into: buffer, of: process, name: "smaps_rollup")
                    if count == 0 {
                        guard let threadCount = process.readThroughLiveThread("smaps_rollup", into: buffer, accept: { _ in true })
                        else { throw process.noAddressSpaceError() }
                        count = threadCount
                    }
                    let text = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                    if unique {
                        guard let clean = ProcText.value(ofKey: "Private_Clean:", in: text),
                            let dirty = ProcText.value(ofKey: "Private_Dirty:", in: text)
                        else { throw Self.unexpected("smaps_rollup", process: process) }
                        let hugetlb = ProcText.value(ofKey: "Private_Hugetlb:", in: text) ?? 0
                        return MemorySize(kibibytes: clean + dirty + hugetlb)
                    }
                    guard let pss = ProcText.value(ofKey: "Pss:", in: text) else {
                        throw Self.unexpected("smaps_rollup", process: process)
                    }
                    return MemorySize(kibibytes: pss)
                }
            case .status(let file, _):
                return try Self.readStatus(file, process: process).peak
            case .resourceUsage:
                do {
                    return MemorySize(kibibytes: try ProcessMemory.maximumResidentKibibytes())
                } catch {
                    throw MemoryError(error)
                }
            case .psCommand(let executable):
                return try PSCommand.residentSetSize(of: process, executable: executable)
            case .mallocInfo:
                return MemorySize(bytes: ProcessMemory.heapInUseBytes() ?? 0)
            }
        }

        /// The high-water mark and the file-backed resident pages (`RssFile`) from one reading of
        /// `/proc/PID/status`, for a probe that reads that file (the `peak` reader); the samplers take both at once.
        func readPeakAndFileResident(process: ProcessID) throws(MemoryError) -> (peak: MemorySize, fileResident: MemorySize?) {
            guard case .status(let file, _) = self else { return (try read(process: process), nil) }
            return try Self.readStatus(file, process: process)
        }

        /// VmHWM and RssFile from one read of `status` into a stack buffer (nothing allocated).
        @inline(__always)
        private static func readStatus(_ file: ProcFile, process: ProcessID) throws(MemoryError) -> (peak: MemorySize, fileResident: MemorySize?) {
            var fileResident: MemorySize?
            let peak = try withBuffer(bytes: 4096) { buffer throws(MemoryError) in
                let count = try file.read(into: buffer, of: process, name: "status")
                var text = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                if ProcText.value(ofKey: "VmHWM:", in: text) == nil, ProcText.hasLine(startingWith: "State:", in: text),
                    let threadCount = process.readThroughLiveThread(
                        "status", into: buffer, accept: { ProcText.value(ofKey: "VmHWM:", in: $0) != nil })
                {
                    text = UnsafeRawBufferPointer(rebasing: buffer[..<threadCount])
                }
                fileResident = ProcText.value(ofKey: "RssFile:", in: text).map { MemorySize(kibibytes: $0) }
                if let kibibytes = ProcText.value(ofKey: "VmHWM:", in: text) {
                    return MemorySize(kibibytes: kibibytes)
                }
                // VmHWM comes early in the file; a full buffer without it is a format change, not truncation.
                if ProcText.hasLine(startingWith: "State:", in: text) { throw process.noAddressSpaceError() }
                throw Self.unexpected("status", process: process)
            }
            return (peak, fileResident)
        }

        func resetPeak(process: ProcessID) throws(MemoryError) {
            switch self {
            case .status(_, let peakReset), .resourceUsage(let peakReset):
                try peakReset.reset(process: process)
            default:
                let file = try ProcFile.open("clear_refs", of: process, writable: true)
                defer { file.close() }
                try file.write("5", of: process, name: "clear_refs")
            }
        }

        func close() {
            switch self {
            case .statm(let file), .smapsRollup(let file, _):
                file.close()
            case .status(let file, let peakReset):
                file.close()
                peakReset.close()
            case .resourceUsage(let peakReset):
                peakReset.close()
            case .psCommand, .mallocInfo:
                break
            }
        }

        /// Runs `body` on an uninitialised stack buffer: readings allocate nothing on the heap.
        @inline(__always)
        private static func withBuffer(
            bytes: Int, _ body: (UnsafeMutableRawBufferPointer) throws(MemoryError) -> MemorySize
        ) throws(MemoryError) -> MemorySize {
            let result = withUnsafeTemporaryAllocation(byteCount: bytes, alignment: 16) { buffer in
                Result { () throws(MemoryError) -> MemorySize in try body(buffer) }
            }
            return try result.get()
        }

        private static func unexpected(_ file: String, process: ProcessID) -> MemoryError {
            MemoryError(.unexpectedFormat, "cannot parse /proc/\(process)/\(file)", process: process)
        }
    }

    /// The descriptor of `/proc/PID/clear_refs`, opened with the probe for the peak readers.
    ///
    /// Opening can fail (another user's process) while reading the peak still works; the failure is kept and
    /// reported when a reset is asked for.
    enum PeakReset: Sendable {
        case ready(ProcFile)
        case denied(MemoryError)

        init(process: ProcessID) {
            do {
                self = .ready(try ProcFile.open("clear_refs", of: process, writable: true))
            } catch {
                self = .denied(error)
            }
        }

        func reset(process: ProcessID) throws(MemoryError) {
            switch self {
            case .ready(let file): try file.write("5", of: process, name: "clear_refs")
            case .denied(let error): throw error
            }
        }

        func close() {
            if case .ready(let file) = self { file.close() }
        }
    }
}
#endif
