import Testing

@testable import MemoryProfiler

@Suite struct DatRecordTests {
    @Test(arguments: [
        (DatRecord.memory(MemorySize(mebibytes: 6.449219), wallClock: 1795585948.75111), "MEM 6.449219 1795585948.7511"),
        (.child(ProcessID(9989), MemorySize(mebibytes: 81.3125), wallClock: 1795585962.0957), "CHLD 9989 81.312500 1795585962.0957"),
        (.commandLine(arguments: ["python3", "-c", "import time; time.sleep(0.5)"]), "CMDLINE python3 -c 'import time; time.sleep(0.5)'"),
        (
            .function(
                FunctionRecord(
                    name: "__main__.grow", startMemory: MemorySize(mebibytes: 50.4297), startWallClock: 1795585949.804,
                    endMemory: MemorySize(mebibytes: 250.4453), endWallClock: 1795585951.7783, level: 1)),
            "FUNC __main__.grow 50.4297 1795585949.8040 250.4453 1795585951.7783 1"
        ),
    ])
    func linesAreWrittenAsMemoryProfilerWritesThem(record: DatRecord, line: String) {
        #expect(record.line == line)
    }

    @Test func aLineBreakInAnArgumentStaysOnTheCommandLinesLine() throws {
        let line = DatRecord.commandLine(arguments: ["python3", "-c", "import time\ntime.sleep(1)"]).line
        #expect(line == "CMDLINE python3 -c 'import time time.sleep(1)'")
        #expect(try MprofFile(parsing: line + "\nMEM 1 2\n").commandLine == "python3 -c 'import time time.sleep(1)'")
    }

    /// One type prints and parses: every kind of record read back from its own line is the same record, to the
    /// precision of the text (memory in whole bytes, 6 decimals of MiB for samples, 4 in FUNC).
    @Test(arguments: [
        DatRecord.memory(MemorySize(bytes: 262_612_578), wallClock: 1_795_585_951.3997),
        .peak(MemorySize(mebibytes: 300), wallClock: 1_795_585_951.5),
        .child(ProcessID(9989), MemorySize(mebibytes: 81.3125), wallClock: 1_795_585_962.0957),
        .commandLine(arguments: ["./app", "two words"]),
        .reader("rss"),
        .function(
            FunctionRecord(
                name: "Catalog.load(from:)", startMemory: MemorySize(mebibytes: 50.4297), startWallClock: 1_795_585_949.804,
                endMemory: MemorySize(mebibytes: 250.4453), endWallClock: 1_795_585_951.7783, level: 3)),
    ])
    func everyRecordReadsBackFromItsLine(record: DatRecord) throws {
        let parsed = try #require(try DatRecord(parsing: record.line))
        #expect(parsed == record, "\(record.line)")
        #expect(parsed.keyword == record.keyword)
        #expect(record.line.hasPrefix(record.keyword.rawValue + " "))
    }

    @Test func unknownRecordsAndBlankLinesAreNotRecordsAndBadOnesAreErrors() throws {
        #expect(try DatRecord(parsing: "FUTURE 1 2") == nil)
        #expect(try DatRecord(parsing: " \t ") == nil)
        #expect(throws: MprofFileError.self) { try DatRecord(parsing: "MEM 1") }
        do {
            _ = try DatRecord(parsing: "MEM -1 2")
            Issue.record("a negative memory was read")
        } catch {
            #expect(error.code == .outOfRange)
            #expect(error.message == "MEM has \"-1\" where the memory in MiB should be: a number of MiB from 0 to 2^40")
        }
        #expect(throws: MprofFileError.self) { try DatRecord(parsing: "mem 1 2") }
    }
}
