import Foundation
import MemoryProfilerTestSupport
import Testing

@testable import MemoryProfiler
import MemoryProfilerSystem

/// The readers on real processes: a `memory-workload` child that allocates on command and reads itself, so that
/// the tests running in parallel in this process do not disturb the numbers.
@Suite struct MemoryProbeTests {
    static let mebibyte = 1 << 20

    @Test func theSeedExperimentHoldsForEveryReaderOfTheCurrentProcess() throws {
        let workload = try Workload()
        let start = try workload.selfReadings()
        try #require(try workload.send("alloc 200") == "ok")
        let held = try workload.selfReadings()
        for reader in ["rss", "peak", "heap"] {
            let rise = try #require(held[reader]) - #require(start[reader])
            #expect(rise.mebibytes >= 190, "\(reader) rose by only \(rise)")
        }

        try #require(try workload.send("free") == "ok")
        let freed = try workload.selfReadings()
        for reader in ["rss", "heap"] {
            let left = try #require(freed[reader]) - #require(start[reader])
            #expect(abs(left.mebibytes) <= 20, "\(reader) is still \(left) above the start after free")
        }
        for reader in ["maxrss", "peak"] {
            // A high-water mark may start above the resident set (start-up touched more), so compare with rss.
            let mark = try #require(freed[reader]) - #require(start["rss"])
            #expect(mark.mebibytes >= 190, "\(reader) fell after free: only \(mark) above the start")
        }

        try #require(try workload.send("reset-self") == "ok")
        let reset = try workload.selfReadings()
        let peakOverResident = try #require(reset["peak"]) - #require(reset["rss"])
        #expect(abs(peakOverResident.mebibytes) <= 20, "peak is \(peakOverResident) away from rss after the reset")
        // getrusage's max RSS also counts the peak of the image this process replaced with exec — here the
        // test runner's, whose address space posix_spawn borrowed — which no reset lowers. It must not rise.
        let maxrss = try #require(reset["maxrss"]), rss = try #require(reset["rss"])
        let maxrssBefore = try #require(freed["maxrss"])
        #expect(maxrss >= rss && maxrss <= maxrssBefore)
    }

    @Test func aChildIsMeasuredByPIDWithEveryReaderThatSeesOtherProcesses() throws {
        let workload = try Workload(["hold", "100"])
        try #require(try workload.readLine() == "ok")
        var readings: [MemoryReader: MemorySize] = [:]
        for reader in [MemoryReader.rss, .pss, .uss, .peak, .ps] {
            readings[reader] = try MemoryProbe(reader, process: workload.id).read()
            let reading = try #require(readings[reader])
            #expect(reading.mebibytes >= 95, "\(reader) of a child holding 100 MiB read \(reading)")
            #expect(reading.mebibytes <= 200, "\(reader) of a child holding 100 MiB read \(reading)")
        }
        let rss = try #require(readings[.rss]), pss = try #require(readings[.pss]), uss = try #require(readings[.uss])
        let rounding = MemorySize(kibibytes: 64)
        #expect(uss <= pss + rounding && pss <= rss + rounding, "expected uss \(uss) ≤ pss \(pss) ≤ rss \(rss)")
    }

    @Test func descendantsForkedFromTwoThreadsAreAllFound() throws {
        let workload = try Workload()
        let answer = try workload.send("spawn 2 5").split(separator: " ")
        try #require(answer.first == "ok")
        let spawned = Set(answer[1...].compactMap { Int32($0) }.map { ProcessID($0) })
        try #require(spawned.count == 4)

        // The setup must really spread the children over two threads, or the union is not being tested.
        let threadsWithChildren = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(workload.id)/task")
            .filter { thread in
                let children = try? String(contentsOfFile: "/proc/\(workload.id)/task/\(thread)/children", encoding: .utf8)
                return !(children ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
        #expect(threadsWithChildren.count == 2)

        #expect(Set(try workload.id.descendants()) == spawned)
        let grandparent = try ProcessID.current.descendants()
        #expect(spawned.isSubset(of: Set(grandparent)) && grandparent.contains(workload.id))
    }

    @Test(arguments: MemoryReader.allCases.filter(\.measuresOtherProcesses))
    func aPIDThatDoesNotExistIsReportedAsSuch(reader: MemoryReader) throws {
        let unused = ProcessID(try Self.unusedPID())
        let error = try #require(throws: MemoryError.self) { try MemoryProbe(reader, process: unused).read() }
        #expect(error.code == .noSuchProcess)
        #expect(error.description == "no process with PID \(unused)")
        #expect(throws: MemoryError.self) { try unused.descendants() }
    }

    @Test(arguments: MemoryReader.allCases.filter(\.measuresOtherProcesses))
    func aProcessThatExitsAfterTheProbeWasMadeIsReportedAsExited(reader: MemoryReader) throws {
        let workload = try Workload()
        let probe = try MemoryProbe(reader, process: workload.id)
        #expect(try probe.read().bytes > 0)
        try workload.send("alloc 1")
        workload.process.closePipes()

        // First a zombie (exited, not yet reaped), then gone for good.
        while ProcessTable.state(of: workload.id.rawValue) != "Z" { usleep(1000) }
        let whileZombie = try #require(throws: MemoryError.self) { try probe.read() }
        #expect(whileZombie.code == .processExited, "\(reader): \(whileZombie)")
        _ = try workload.process.wait()
        let afterReaping = try #require(throws: MemoryError.self) { try probe.read() }
        #expect(afterReaping.code == .processExited, "\(reader): \(afterReaping)")
    }

    @Test(arguments: [MemoryReader.maxrss, .heap])
    func currentProcessReadersRefuseOtherProcesses(reader: MemoryReader) throws {
        let error = try #require(throws: MemoryError.self) { try MemoryProbe(reader, process: ProcessID(1)) }
        #expect(error.code == .unsupportedTarget)
        #expect(error.description.contains("only the current process"))
    }

    /// A process owned by root, seen from a workload that acts as another user: as root the workload drops to
    /// `nobody` and looks at this test process; otherwise it looks at PID 1.
    static func anotherUsersProcess() throws -> (workload: Workload, target: ProcessID) {
        let workload = try Workload()
        try #require(try workload.send("drop-root") == "ok")
        return (workload, getuid() == 0 ? ProcessID.current : ProcessID(1))
    }

    @Test(arguments: [MemoryReader.pss, .uss])
    func anotherUsersProcessIsPermissionDenied(reader: MemoryReader) throws {
        let (workload, target) = try Self.anotherUsersProcess()
        #expect(try workload.send("probe \(target) \(reader)") == "error permissionDenied")
        #expect(try workload.send("probe \(target) rss").hasPrefix("ok "), "statm is readable by everyone")
    }

    @Test func resettingAnotherUsersPeakIsPermissionDeniedAndLeavesThePeakAlone() throws {
        let (workload, target) = try Self.anotherUsersProcess()
        let before = try MemoryProbe(.peak, process: target).read()
        #expect(try workload.send("reset \(target)") == "error permissionDenied")
        #expect(try MemoryProbe(.peak, process: target).read() >= before)
    }

    @Test func psIsReportedUnavailableWithoutItOnPATH() throws {
        let workload = try Workload(environment: ["PATH": "/nonexistent"])
        #expect(try workload.send("probe self ps") == "error unavailable")
        #expect(try workload.send("probe self rss").hasPrefix("ok "))
    }

    @Test func theReaderComparisonExampleShowsHighWaterMarksStayingUp() throws {
        let example = try ChildProcess.spawn(
            BuiltProducts.path("reader-comparison"), arguments: ["--json", "--steps", "3", "--step-mebibytes", "60"],
            standardOutput: .pipe)
        let output = String(decoding: example.readOutput(), as: UTF8.self)
        example.closePipes()
        #expect(try example.wait() == .exited(0))
        let rows = try output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        try #require(rows.count == 1 + 2 * 3 + 1)
        func mebibytes(_ row: [String: Any], _ reader: String) -> Double {
            Double(row[reader] as? Int ?? -1) / Double(Self.mebibyte)
        }
        let start = rows[0], lastFreed = rows[6], reset = rows[7]
        #expect(mebibytes(rows[5], "rss") - mebibytes(start, "rss") >= 175)
        #expect(mebibytes(lastFreed, "rss") - mebibytes(start, "rss") <= 20)
        #expect(mebibytes(lastFreed, "maxrss") - mebibytes(start, "rss") >= 175)
        #expect(mebibytes(lastFreed, "peak") - mebibytes(start, "rss") >= 175)
        #expect(abs(mebibytes(reset, "peak") - mebibytes(reset, "rss")) <= 20)
    }

    /// A PID no process has: above every PID in use and below the kernel's maximum.
    static func unusedPID() throws -> Int32 {
        let maximum = Int32(try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 32768
        var candidate = maximum - 1
        while kill(candidate, 0) == 0 || errno != ESRCH { candidate -= 1 }
        return candidate
    }
}
