import Foundation
import MemoryProfiler
import MemoryProfilerTestSupport
import Testing

/// The line profiler end to end: `line-workload` runs profiled functions in a process of its own and writes the
/// report as JSON at exit; the tests decode it and check the numbers against what the functions did.
@Suite struct LineProfileTests {
    @Test func aLineKeeping200MiBShowsItsIncrementAndATemporaryShowsInPeakOnly() throws {
        let run = try LineWorkloadRun("allocate")
        let function = try run.function("allocateAndRelease()")
        let kept = try function.line(containing: "// keeps 200 MiB")
        let temporary = try function.line(containing: "// 100 MiB come and go")
        let released = try function.line(containing: "// gives 200 MiB back")

        #expect(try #require(kept.increment).mebibytes >= 190)
        #expect(try #require(kept.heapIncrement).mebibytes >= 190)
        #expect(kept.occurrences == 1)

        let keptUsage = try #require(kept.memoryUsage)
        #expect(abs(try #require(temporary.increment).mebibytes) < 5)
        #expect(try #require(temporary.peak).mebibytes - keptUsage.mebibytes >= 95)
        #expect(abs(try #require(temporary.heapIncrement).mebibytes) < 1)

        #expect(try #require(released.increment).mebibytes <= -190)
        #expect(try #require(released.peak) >= keptUsage)
        #expect(function.calls == 1)
    }

    @Test func loopHeadersCountIterationsPlusOne() throws {
        let function = try LineWorkloadRun("loops").function("loops(_:)")
        let expected: [(String, Int)] = [
            ("// for header", 6), ("// for body", 5), ("// while header", 6), ("index += 1", 5),
            ("repeat {", 1), ("index -= 1", 5), ("// repeat condition", 5), ("for _ in 0..<count {}", 6),
            ("// labelled header", 4), ("return total", 1),
        ]
        for (text, occurrences) in expected {
            #expect(try function.line(containing: text).occurrences == occurrences, "\(text)")
        }
    }

    @Test func everyKindOfStatementIsCountedWhereItRan() throws {
        let run = try LineWorkloadRun("control")
        let function = try run.function("controlFlow(_:)")
        #expect(function.calls == 5)
        let expected: [(String, Int)] = [
            ("// guard throw", 1), ("// even branch", 2), ("// three branch", 1), ("// odd branch", 1),
            ("// case zero", 1), ("fallthrough", 1), ("// case small", 1), ("// case default", 3),
            ("// do try", 4), ("// after try", 3), ("// catch body", 1), ("// if-config line", 4),
            ("// hash line", 4), ("// closure line", 4),
        ]
        for (text, occurrences) in expected {
            #expect(try function.line(containing: text).occurrences == occurrences, "\(text)")
        }
        // A local function is a declaration: it does not run where it stands.
        #expect(try function.line(containing: "// local function").occurrences == 0)
        #expect(try function.line(containing: "} else {").memoryUsage == nil)

        // `#line` inside the profiled body keeps its meaning.
        let hashLine = try function.line(containing: "// hash line").number
        #expect(run.standardOutput.contains(",\(hashLine),"))
    }

    @Test func methodsInitializersAsyncGenericAndRecursiveFunctionsAreProfiled() throws {
        let run = try LineWorkloadRun("kinds")
        #expect(run.standardOutput.hasPrefix("42\n4.0 6\n4\n42\n3\n[5]\nconvenience\n"))

        let single = try run.function("singleExpression(_:)")
        #expect(try single.line(containing: "func singleExpression").occurrences == 1)

        let generic = try run.function("generic(_:)")
        #expect(generic.calls == 2)
        // Header and body share the line: (2 + 1) + 2 for two values, (3 + 1) + 3 for three.
        #expect(try generic.line(containing: "for value in values").occurrences == 5 + 7)

        let recursive = try run.function("recursive(_:)")
        #expect(recursive.calls == 5)
        let perLevel = try recursive.line(containing: "// 8 MiB per level")
        #expect(perLevel.occurrences == 5)
        #expect(try #require(perLevel.increment).mebibytes >= 38)
        #expect(try recursive.line(containing: "// recursive call").occurrences == 4)

        let asynchronous = try run.function("asynchronous(_:)")
        #expect(try asynchronous.line(containing: "// suspension point").occurrences == 1)
        #expect(try asynchronous.line(containing: "return after").occurrences == 1)

        let initializer = try run.function("Buffer.init(mebibytes:)")
        #expect(try #require(initializer.line(containing: "// init allocation").increment).mebibytes >= 15)
        let deinitializer = try run.function("Buffer.deinit")
        #expect(try #require(deinitializer.line(containing: "// deinit release").increment).mebibytes <= -15)

        #expect(try run.function("Counter.increment(by:)").line(containing: "// actor state").occurrences == 1)
        #expect(try run.function("Accumulator.add(_:)").line(containing: "// mutating append").occurrences == 1)
        #expect(try run.function("Derived.init(label:)").line(containing: "// before super.init").occurrences == 1)
        #expect(try run.function("Derived.init()").line(containing: "// before self.init").occurrences == 1)
        #expect(try run.function("Derived.make()").calls == 1)
        #expect(try run.function("Derived.apply(_:)").line(containing: "// rethrown call").occurrences == 1)
    }

    @Test func edgeShapesOfFunctionsCompileAndCount() throws {
        let run = try LineWorkloadRun("edges")
        #expect(run.standardOutput.hasPrefix("6 3 negative zero\n"))
        // A loop as the last statement still counts its final header test; one left by return does not.
        #expect(try run.function("trailingLoop(_:)").line(containing: "// trailing header").occurrences == 5)
        #expect(try run.function("endsWithLoop(_:)").line(containing: "// last statement header").occurrences == 4)
        #expect(try run.function("leavesLoopEarly(_:)").line(containing: "// search header").occurrences == 3)
        #expect(try run.function("label(_:)").calls == 1)
        #expect(try run.function("describe(_:)").line(containing: "// switch with returns").occurrences == 1)
        #expect(try run.function("nothingToDo()").calls == 1)
        #expect(try run.function("onlyDeclarations()").calls == 1)
        // Memory the kernel filled in for mmap(MAP_POPULATE) and took back within the line: Peak sees it.
        let populated = try run.function("populate()").line(containing: "// populated and gone")
        let usage = try #require(populated.memoryUsage)
        #expect(try #require(populated.peak).mebibytes - usage.mebibytes >= 60)
        #expect(try run.function("block at line 364").calls == 1)
    }

    @Test func blocksAreProfiledThroughTheExpressionMacro() throws {
        let run = try LineWorkloadRun("block")
        #expect(run.standardOutput.hasPrefix("42 7\n"))
        let block = try run.function("block")
        #expect(try #require(block.line(containing: "// block allocation").increment).mebibytes >= 60)
        #expect(try run.function("async block").line(containing: "await Task.yield()").occurrences == 1)
    }

    @Test func callsFromSeveralThreadsAddUp() throws {
        let function = try LineWorkloadRun("threads").function("threadWork(_:)")
        #expect(function.calls == 200)
        for line in function.lines.dropFirst(2).dropLast() {
            #expect(line.occurrences == 200, "\(line.contents)")
        }
    }

    @Test func theTextReportHasMemoryProfilersLayoutAndTheJSONsNumbers() throws {
        let run = try LineWorkloadRun(
            "loops", environment: ["MPROF_LINE_STYLE": "classic", "MPROF_LINE_PRECISION": "3"])
        let function = try run.function("loops(_:)")
        let lines = run.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("Filename: ") })
        #expect(lines[start] == "Filename: Tests/LineWorkload/main.swift")
        #expect(lines[start + 1] == "")
        #expect(lines[start + 2] == "Line #    Mem usage    Increment  Occurrences   Line Contents")
        #expect(lines[start + 3] == String(repeating: "=", count: 61))
        for (offset, line) in function.lines.enumerated() {
            let row = lines[start + 4 + offset]
            let number = String(line.number)
            guard let usage = line.memoryUsage, let increment = line.increment else {
                #expect(row == String(repeating: " ", count: 6 - number.count) + number + String(repeating: " ", count: 41) + line.contents)
                continue
            }
            let expected =
                pad(number, 6) + " " + pad(String(format: "%7.3f MiB", usage.mebibytes), 12) + " "
                + pad(String(format: "%7.3f MiB", increment.mebibytes), 12) + "  " + pad(String(line.occurrences), 10)
                + "   " + line.contents
            #expect(row == expected)
        }
    }

    @Test func underMprofEachCallWritesAFunctionRecord() throws {
        let dat = temporaryPath("dat")
        defer { try? FileManager.default.removeItem(atPath: dat) }
        let run = try LineWorkloadRun("grow", environment: ["MPROF_OUTPUT_FILE": dat])
        let records = try String(contentsOfFile: dat, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("FUNC ") }.map { $0.split(separator: " ") }
        let record = try #require(records.first)
        #expect(records.count == 1)
        #expect(record.count == 7)
        #expect(record[1] == "grow()")
        let startMemory = try #require(Double(record[2]))
        let endMemory = try #require(Double(record[4]))
        let start = try #require(Double(record[3]))
        let end = try #require(Double(record[5]))
        #expect(end >= start)
        #expect(abs(endMemory - startMemory) < 16)
        #expect(record[6] == "0")
        _ = run
    }

    @Test func crossingTheMemoryLimitNamesTheLine() throws {
        let run = try LineWorkloadRun("allocate", environment: ["MPROF_LINE_LIMIT_MIB": "100"])
        let line = try run.function("allocateAndRelease()").line(containing: "// keeps 200 MiB").number
        #expect(run.standardError.contains("memory limit 100.0 MiB crossed at "))
        #expect(run.standardError.contains("main.swift:\(line) in allocateAndRelease()"))
    }

    @Test func theMemoryLimitRaisesSIGTRAPWhenAsked() throws {
        // Swift's backtracer would catch the signal, print a backtrace and let the program go on.
        let result = try runProduct(
            "line-workload", ["allocate"],
            environment: ["MPROF_LINE_LIMIT_MIB": "100", "MPROF_LINE_TRAP": "1", "SWIFT_BACKTRACE": "enable=no"])
        #expect(result.termination == .signaled(SIGTRAP))
        #expect(result.standardError.contains("memory limit 100.0 MiB crossed"))
    }

    @Test func aDebuggerStopsRightAfterTheLineThatCrossedTheLimit() throws {
        let workload = BuiltProducts.path("line-workload")
        let result = try runCommand(
            "gdb", ["-nx", "-batch", "-ex", "run", "-ex", "bt", "--args", workload, "allocate"],
            environment: ["MPROF_LINE_LIMIT_MIB": "100", "MPROF_LINE_TRAP": "1", "MPROF_LINE_REPORT": "none"])
        let run = try LineWorkloadRun("allocate")
        let next = try run.function("allocateAndRelease()").line(containing: "// 100 MiB come and go").number
        #expect(result.standardOutput.contains("Program received signal SIGTRAP"))
        #expect(result.standardOutput.contains("allocateAndRelease"))
        #expect(result.standardOutput.contains("Tests/LineWorkload/main.swift:\(next)\n"))
    }

    @Test func badSettingsAreReportedAndTheReportStillPrints() throws {
        let result = try runProduct(
            "line-workload", ["loops"],
            environment: [
                "MPROF_LINE_PRECISION": "many", "MPROF_LINE_JSON": "/nonexistent-directory/profile.json",
                "MPROF_LINE_LIMIT_MIB": "-3",
            ])
        #expect(result.status == 0)
        #expect(result.standardError.contains("MPROF_LINE_PRECISION=many is not a number from 0 to 12; using 1"))
        #expect(result.standardError.contains("MPROF_LINE_LIMIT_MIB=-3 is not a number of MiB from 0 to 2^40"))
        // Too large for any machine (and for a byte count): refused, not a crash.
        let huge = try runProduct("line-workload", ["loops"], environment: ["MPROF_LINE_LIMIT_MIB": "1e300"])
        #expect(huge.status == 0)
        #expect(huge.standardError.contains("MPROF_LINE_LIMIT_MIB=1e300 is not a number of MiB from 0 to 2^40"))
        // Control characters in a setting are shown escaped, never sent to the terminal.
        let escaped = try runProduct("line-workload", ["loops"], environment: ["MPROF_LINE_STYLE": "\u{1B}]0;pwned\u{07}"])
        #expect(escaped.standardError.contains("MPROF_LINE_STYLE=\\x1B]0;pwned\\x07 is neither"))
        #expect(!escaped.standardError.contains("\u{1B}"))
        #expect(result.standardError.contains("cannot write the line profile to /nonexistent-directory/profile.json"))
        #expect(result.standardOutput.contains("Line #    Mem usage    Increment  Occurrences"))
    }

    @Test func theExampleShowsItsReport() throws {
        let result = try runProduct("line-profile", [])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("Filename: Examples/LineProfile/main.swift"))
        #expect(result.standardOutput.contains("Peak         Heap   Line Contents"))
    }
}

/// With the heap hook loaded, each line's own allocations are counted from the hook's per-thread counters: exact for
/// the thread that runs the line, whatever other threads allocate meanwhile.
struct LineAllocationCountTests {
    static let hook = BuiltProducts.path("libmprof-heap-hook.so")

    @Test func eachLineCountsItsOwnThreadsAllocationsExactly() throws {
        try #require(FileManager.default.fileExists(atPath: Self.hook), "\(Self.hook) is missing: build with `swift build`")
        // The same 20 calls, alone and while another thread allocates all the time (hundreds of thousands of
        // blocks): each line's counts must be the same, to the byte.
        let alone = try LineWorkloadRun("counted-alone", environment: ["LD_PRELOAD": Self.hook])
        let busy = try LineWorkloadRun("counted", environment: ["LD_PRELOAD": Self.hook])
        for run in [alone, busy] {
            let function = try run.function("countedAllocations()")
            let making = try function.line(containing: "// 100 arrays")
            let reading = try function.line(containing: "// reads only")
            let allocations = try #require(making.allocations), bytes = try #require(making.allocated?.bytes)
            // At least 100 arrays of 32 + 1,000 bytes and the array of their references (32 + 800 bytes) a call;
            // a debug build adds the generic coroutine frames Collection.map reads through.
            #expect(allocations >= 20 * 101 && allocations % 20 == 0, "\(allocations)")
            #expect(bytes >= 20 * (100 * 1032 + 832), "\(bytes)")
            // Reading makes no arrays: at most a debug build's coroutine frame an iteration.
            #expect((reading.allocations ?? -1) >= 0 && (reading.allocations ?? .max) <= 20 * 101, "\(String(describing: reading.allocations))")
        }
        let aloneLines = try alone.function("countedAllocations()").lines, busyLines = try busy.function("countedAllocations()").lines
        #expect(aloneLines.map(\.allocations) == busyLines.map(\.allocations), "\(aloneLines.map(\.allocations)) \(busyLines.map(\.allocations))")
        #expect(aloneLines.map(\.allocated) == busyLines.map(\.allocated))
        let text = busy.report.text()
        #expect(text.contains("Allocated") && text.contains("Allocs"), "\(text)")
    }

    @Test func withoutTheHookThereAreNoAllocationColumns() throws {
        let run = try LineWorkloadRun("counted")
        let function = try run.function("countedAllocations()")
        #expect(function.lines.allSatisfy { $0.allocations == nil && $0.allocated == nil })
        #expect(!run.report.text().contains("Allocs"))
    }
}

/// One run of `line-workload` with its report decoded from the JSON it wrote at exit.
struct LineWorkloadRun {
    let report: LineProfileReport
    let standardOutput: String
    let standardError: String

    init(_ scenario: String, environment: [String: String] = [:]) throws {
        let json = temporaryPath("json")
        defer { try? FileManager.default.removeItem(atPath: json) }
        var environment = environment
        environment["MPROF_LINE_JSON"] = json
        let result = try runProduct("line-workload", [scenario], environment: environment)
        try #require(result.status == 0, "line-workload \(scenario) failed: \(result.standardError)")
        report = try JSONDecoder().decode(LineProfileReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        standardOutput = result.standardOutput
        standardError = result.standardError
    }

    func function(_ name: String) throws -> FunctionLineProfile {
        try #require(report.functions.first { $0.name == name }, "no function \(name) in the report")
    }
}

extension FunctionLineProfile {
    func line(containing text: String) throws -> LineProfile {
        try #require(lines.first { $0.contents.contains(text) }, "no line containing \(text) in \(name)")
    }
}

func temporaryPath(_ suffix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("line-profile-\(UUID().uuidString).\(suffix)").path
}

private func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
