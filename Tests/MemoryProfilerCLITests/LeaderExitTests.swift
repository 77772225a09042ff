import Foundation
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// A program whose main thread ends with `pthread_exit` while other threads work (a C server's pattern): the group
/// leader is a zombie, so `/proc/PID/statm`, `status` and `smaps` read as an empty address space, yet the process runs
/// on. mprof reads its memory through a live thread.
@Suite struct LeaderExitTests {
    /// The main thread ends at once; a worker allocates and touches `steps` × 10 MiB, one step every 50 ms, then
    /// holds for `hold` ms and exits the process with status 0.
    static func program(in directory: TemporaryDirectory, steps: Int, hold: Int) throws -> String {
        try HeapProfilingTests.compile("""
            #include <pthread.h>
            #include <stdlib.h>
            #include <string.h>
            #include <time.h>
            void *volatile kept[64];
            static void pause_ms(long ms) { struct timespec t = {ms / 1000, (ms % 1000) * 1000000L}; nanosleep(&t, NULL); }
            static void *work(void *unused) {
                (void)unused;
                for (int i = 0; i < \(steps); i++) { kept[i] = memset(malloc(10 << 20), 1, 10 << 20); pause_ms(50); }
                pause_ms(\(hold));
                exit(0);
            }
            int main(void) {
                pthread_t thread;
                pthread_create(&thread, NULL, work, NULL);
                pthread_exit(NULL);
            }
            """, named: "leader-exits", in: directory)
    }

    @Test func runSamplesTheWholeRunAfterTheMainThreadEnds() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.program(in: directory, steps: 20, hold: 100)
        let file = "\(directory.path)/run.dat"
        let run = try runProduct("mprof", ["run", "-T", "0.05", "-o", file, program])
        #expect(run.status == 0, "\(run.standardError)")
        let samples = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("MEM ") }.compactMap { Double($0.split(separator: " ")[1]) }
        // About 1.1 s at 20 samples a second; the old reading stopped at the first sample.
        #expect(samples.count >= 10, "\(samples.count) samples")
        #expect((samples.max() ?? 0) >= 190, "the highest sample is \(samples.max() ?? 0) MiB for 200 MiB touched")
    }

    @Test func explainReadsAProcessWhoseMainThreadEnded() throws {
        let directory = try TemporaryDirectory()
        let program = try Self.program(in: directory, steps: 10, hold: 5000)
        let child = try ChildProcess.spawn(program, arguments: [], standardInput: .null, standardOutput: .null)
        defer {
            kill(child.pid, SIGKILL)
            _ = try? child.wait()
        }
        // Until the leader is a zombie and the worker holds its 100 MiB.
        var ready = false
        for _ in 0..<300 {
            let state = ProcessTable.state(of: child.pid)
            let task = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/task")) ?? []
            let worker = task.first { $0 != String(child.pid) }
            let rss = worker.flatMap { try? String(contentsOfFile: "/proc/\(child.pid)/task/\($0)/statm", encoding: .utf8) }
                .flatMap { Int($0.split(separator: " ")[1]) } ?? 0
            if state == "Z" && rss * 4096 >= 100 << 20 {
                ready = true
                break
            }
            usleep(10_000)
        }
        try #require(ready, "the main thread did not end, or the worker did not allocate")
        let explain = try runProduct("mprof", ["explain", String(child.pid), "--json"])
        #expect(explain.status == 0, "\(explain.standardError)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(explain.standardOutput.utf8)) as? [String: Any])
        let resident = try #require(report["resident"] as? Int, "\(explain.standardOutput.prefix(400))")
        #expect(resident >= 100 << 20, "explain saw \(resident) bytes for 100 MiB touched")
        let peak = try runProduct("mprof", ["attach", "-T", "0.05", "-o", "\(directory.path)/attach.dat", "--timeout", "0.5", String(child.pid)])
        #expect(peak.status == 0, "\(peak.standardError)")
        let samples = try String(contentsOfFile: "\(directory.path)/attach.dat", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("MEM ") }.compactMap { Double($0.split(separator: " ")[1]) }
        #expect(samples.count >= 5 && (samples.min() ?? 0) >= 100, "\(samples)")
    }
}
