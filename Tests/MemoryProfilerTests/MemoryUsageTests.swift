import Foundation
import MemoryProfilerTestSupport
import Synchronization
import Testing

@testable import MemoryProfiler

/// `memoryUsage` of closures measures this whole process, so each such test runs in an exit test: a fresh
/// process of its own, undisturbed by the tests running in parallel here.
@Suite struct MemoryUsageTests {
    @Test func aClosureAllocating300MiBRisesStepByStepAndReturnsToBaseline() async {
        await #expect(processExitsWith: .success) {
            let (steps, trace) = try memoryUsage(options: .init(interval: .milliseconds(5))) {
                var blocks: [UnsafeMutableRawPointer] = []
                for _ in 0..<30 {
                    blocks.append(touchedAllocation(mebibytes: 10))
                    usleep(15_000)
                }
                for block in blocks { block.deallocate() }
                usleep(30_000)
                return blocks.count
            }
            #expect(steps == 30)
            #expect(trace.peakSource == .kernelHighWaterMark)
            #expect(trace.increment.mebibytes >= 300, "increment \(trace.increment)")
            let peakIndex = try #require(trace.samples.firstIndex { $0.memory == trace.samples.map(\.memory).max() })
            let rising = trace.samples[...peakIndex].map(\.memory.mebibytes)
            #expect(zip(rising, rising.dropFirst()).allSatisfy { $1 >= $0 - 1 }, "not monotonic: \(rising)")
            #expect(rising.last! - trace.baseline.mebibytes >= 295)
            let last = try #require(trace.samples.last)
            #expect(abs((last.memory - trace.baseline).mebibytes) <= 20, "ended at \(last.memory)")
            #expect(trace.samples.count >= 60, "only \(trace.samples.count) samples over ≥ 480 ms at 5 ms")
            #expect(trace.end == .stopped)
        }
    }

    @Test func aSpikeBetweenTwoSamplesIsTheTracesPeak() async {
        await #expect(processExitsWith: .success) {
            // One sample before and one after: the 20 MiB spike in between is seen by the kernel's mark alone.
            let (_, trace) = try memoryUsage(options: .init(interval: .seconds(10))) { Self.spike() }
            #expect(trace.samples.count == 2)
            for sample in trace.samples {
                #expect((sample.memory - trace.baseline).mebibytes < 5)
            }
            #expect(trace.increment.mebibytes >= 19, "spike missed: increment \(trace.increment)")
            #expect((trace.samples[1].intervalPeak ?? .zero) - trace.baseline >= MemorySize(mebibytes: 19))
            #expect(trace.peakSource == .kernelHighWaterMark)

            // Without the kernel's mark the same spike is missed, as memory_profiler misses it.
            let (_, sampled) = try memoryUsage(options: .init(interval: .seconds(10), exactPeaks: false)) {
                Self.spike()
            }
            #expect(sampled.peakSource == .samples)
            #expect(sampled.increment.mebibytes < 5)
        }
    }

    /// Holds 20 MiB for 50 ms, between two 20 ms pauses.
    static func spike() {
        usleep(20_000)
        let block = touchedAllocation(mebibytes: 20)
        usleep(50_000)
        block.deallocate()
        usleep(20_000)
    }

    struct Failure: Error, Equatable {
        var code: Int
    }

    @Test func anErrorFromTheClosurePropagatesUnchangedAndStopsTheSampler() async {
        await #expect(processExitsWith: .success) {
            let threadsBefore = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
            let error = #expect(throws: Failure.self) {
                _ = try memoryUsage(options: .init(interval: .milliseconds(1))) {
                    usleep(10_000)
                    throw Failure(code: 42)
                }
            }
            #expect(error == Failure(code: 42))
            let threadsAfter = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count
            #expect(threadsAfter == threadsBefore, "the sampler thread is still running")
        }
    }

    @Test func anAsyncClosureIsMeasuredAndItsResultReturned() async {
        await #expect(processExitsWith: .success) {
            let (result, trace) = try await memoryUsage(options: .init(interval: .milliseconds(5))) {
                try await Task.sleep(for: .milliseconds(20))
                let block = touchedAllocation(mebibytes: 64)
                try await Task.sleep(for: .milliseconds(20))
                block.deallocate()
                return "done"
            }
            #expect(result == "done")
            #expect(trace.increment.mebibytes >= 60)
            #expect(trace.samples.count >= 4)
        }
    }

    @Test func maximumOnlyKeepsThePeakAndTheCountButNoSamples() async {
        await #expect(processExitsWith: .success) {
            let options = SamplingOptions(interval: .milliseconds(2), maximumOnly: true)
            let (_, trace) = try memoryUsage(options: options) {
                let block = touchedAllocation(mebibytes: 40)
                usleep(20_000)
                block.deallocate()
            }
            #expect(trace.samples.isEmpty)
            #expect(trace.sampleCount >= 3)
            #expect(trace.increment.mebibytes >= 39)
        }
    }

    @Test func memitPrintsMemoryProfilersLine() async {
        await #expect(processExitsWith: .success) {
            var lines: [String] = []
            let trace = try memit(print: { lines.append($0) }) {
                let block = touchedAllocation(mebibytes: 30)
                block.deallocate()
            }
            #expect(lines == [trace.memitSummary])
            let pattern = /peak memory: (\d+\.\d\d) MiB, increment: (\d+\.\d\d) MiB/
            let match = try #require(lines.first?.wholeMatch(of: pattern))
            #expect(Double(match.2)! >= 29.5)
            #expect(Double(match.1)! >= Double(match.2)!)
        }
    }

    @Test func memoryAgainstInputSizeGivesOnePeakPerSize() async {
        await #expect(processExitsWith: .success) {
            let points = try memoryUsage(forInputSizes: [10, 40, 80]) { size in
                let block = touchedAllocation(mebibytes: size)
                block.deallocate()
            }
            #expect(points.map(\.inputSize) == [10, 40, 80])
            for point in points {
                #expect(point.increment.mebibytes >= Double(point.inputSize) - 1, "\(point)")
                #expect(point.increment.mebibytes <= Double(point.inputSize) + 10, "\(point)")
            }
        }
    }

    @Test func aSinkReceivesEverySampleInOrder() async {
        await #expect(processExitsWith: .success) {
            final class Collector: MemorySampleSink {
                let samples = Mutex<[MemorySample]>([])
                let ended = Mutex(false)
                func record(_ sample: MemorySample) { samples.withLock { $0.append(sample) } }
                func end(_ trace: MemoryTrace) { ended.withLock { $0 = true } }
            }
            let collector = Collector()
            let (_, trace) = try memoryUsage(options: .init(interval: .milliseconds(2), sink: collector)) {
                usleep(30_000)
            }
            #expect(collector.samples.withLock { $0 } == trace.samples)
            #expect(collector.ended.withLock { $0 })
        }
    }

    @Test func theSamplerDoesNotGrowTheHeapPerSample() async {
        await #expect(processExitsWith: .success) {
            final class Counter: MemorySampleSink {
                let samples = Atomic(0)
                func record(_ sample: MemorySample) { samples.add(1, ordering: .relaxed) }
            }
            let counter = Counter()
            let heap = try MemoryProbe(.heap)
            let sampler = try MemorySampler.start(
                process: .current, options: .init(interval: .microseconds(200), timeout: .seconds(5), sink: counter))
            // Measure from the 50th sample on: the thread's first steps (the runtime's per-thread set-up) may
            // allocate once.
            while counter.samples.load(ordering: .relaxed) < 50 { usleep(1_000) }
            let before = try heap.read()
            let countBefore = counter.samples.load(ordering: .relaxed)
            let clock = ContinuousClock(), deadline = clock.now + .seconds(4)
            while counter.samples.load(ordering: .relaxed) - countBefore < 2_000 && clock.now < deadline {
                usleep(10_000)
            }
            let after = try heap.read()
            let taken = counter.samples.load(ordering: .relaxed) - countBefore
            _ = sampler.stop()
            // Keeping even 16 bytes a sample would grow the heap by 32 KiB; a stray 4 KiB buffer of this
            // process's test machinery (seen under load) must not fail the test.
            #expect(taken >= 2_000)
            #expect((after - before).bytes < 8 * 1024, "the heap grew by \((after - before).bytes) bytes over \(taken) samples")
        }
    }

    @Test func theCurrentProcessNeedsATimeoutAndTheIntervalMustBePositive() throws {
        let noTimeout = try #require(throws: MemoryError.self) { try memoryUsage(of: .current) }
        #expect(noTimeout.code == .invalidOptions)
        let zero = try #require(throws: MemoryError.self) {
            try memoryUsage(of: .current, options: .init(interval: .zero, timeout: .seconds(1)))
        }
        #expect(zero.code == .invalidOptions)
    }

    @Test func aProcessIsSampledUntilTheTimeout() throws {
        let workload = try Workload(["hold", "50"])
        try #require(try workload.readLine() == "ok")
        let trace = try memoryUsage(
            of: workload.id, options: .init(interval: .milliseconds(10), timeout: .milliseconds(300)))
        #expect(trace.end == .timeout)
        #expect(trace.samples.count >= 10)
        #expect(trace.samples.allSatisfy { $0.memory.mebibytes >= 49 })
        #expect(trace.duration >= .milliseconds(300) && trace.duration < .milliseconds(600))
        #expect(trace.peakSource == .kernelHighWaterMark)
        let startWallClock = Date().timeIntervalSince1970 - trace.duration.seconds
        #expect(abs(trace.startWallClock - startWallClock) < 1)
        #expect(trace.wallClock(of: trace.samples[1]) > trace.startWallClock)
    }

    @Test func aProcessThatExitsBeforeTheTimeoutEndsTheTraceCleanly() async throws {
        let workload = try Workload(["hold", "20"])
        try #require(try workload.readLine() == "ok")
        let sampler = try MemorySampler.start(
            process: workload.id, options: .init(interval: .milliseconds(5), timeout: .seconds(600)))
        // The timeout is far away: under a full parallel run this sleep has lasted over 30 s on 2 cores.
        try await Task.sleep(for: .milliseconds(100))
        workload.process.closePipes()
        let trace = await sampler.waitUntilFinished()
        #expect(trace.end == .processExited, "\(trace.notes)")
        // Ended by the exit, not by the timeout: the trace's own length (the sampler's thread keeps it; awaiting it
        // here took 8.8 s once while parallel tests held the task pool) is far below the 600 s.
        #expect(trace.duration < .seconds(300), "\(trace.duration)")
        #expect(trace.samples.count >= 5)
        #expect(trace.peak.mebibytes >= 20)
        _ = try workload.process.wait()
    }

    @Test func childrenAreSummedAndGetASeriesEach() throws {
        let workload = try Workload()
        let answer = try workload.send("spawn 2 20").split(separator: " ")
        try #require(answer.first == "ok")
        let spawned = Set(answer[1...].compactMap { Int32($0) }.map { ProcessID($0) })
        let own = try MemoryProbe(.rss, process: workload.id).read()

        let options = SamplingOptions(
            interval: .milliseconds(10), timeout: .milliseconds(200), includeChildren: true, perChildSeries: true)
        let trace = try memoryUsage(of: workload.id, options: options)
        #expect(Set(trace.children.map(\.process)) == spawned)
        for series in trace.children {
            #expect(series.samples.count >= 5)
            #expect(series.samples.allSatisfy { $0.memory.mebibytes >= 19 }, "\(series.process)")
        }
        #expect(trace.samples.allSatisfy { ($0.memory - own).mebibytes >= 4 * 19 })
        #expect(trace.peakSource == .sumOfHighWaterMarks)

        let alone = try memoryUsage(of: workload.id, options: .init(interval: .milliseconds(10), timeout: .milliseconds(50)))
        #expect(alone.children.isEmpty)
        #expect(alone.peak.mebibytes < own.mebibytes + 10)
    }
}

@Suite struct MemoryScalingExampleTests {
    @Test func thePseudoInverseNeedsSeveralMatricesOfTemporariesAtEverySize() throws {
        let result = try runProduct("memory-scaling", ["--json", "--sizes", "160,240,320"])
        #expect(result.status == 0, "\(result.standardError)")
        // A MemoryScalingPoint a line, as the library's own Codable conformance writes and reads it.
        let points = try result.standardOutput.split(separator: "\n").map { line in
            try JSONDecoder().decode(MemoryScalingPoint.self, from: Data(line.utf8))
        }
        #expect(points.map(\.inputSize) == [160, 240, 320])
        for point in points {
            let size = point.inputSize, increment = point.increment.bytes
            // Inside the inverse A, Aᵀ, AᵀA and the n×2n working copy are alive: five n×n matrices of doubles.
            #expect(increment >= 5 * size * size * 8, "size \(size): increment \(increment) bytes")
            #expect(point.baseline.bytes > 0)
            #expect(point.duration > .zero && point.duration < .seconds(60))
        }
    }
}
