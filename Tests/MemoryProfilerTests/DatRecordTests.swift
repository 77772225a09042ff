import Testing

@testable import MemoryProfiler

@Suite struct DatRecordTests {
    @Test(arguments: [
        (DatRecord.memory(MemorySize(mebibytes: 6.449219), wallClock: 1795585948.75111), "MEM 6.449219 1795585948.7511"),
        (.child(ProcessID(9989), MemorySize(mebibytes: 81.3125), wallClock: 1795585962.0957), "CHLD 9989 81.312500 1795585962.0957"),
        (.commandLine(["python3", "-c", "import time; time.sleep(0.5)"]), "CMDLINE python3 -c 'import time; time.sleep(0.5)'"),
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
        let line = DatRecord.commandLine(["python3", "-c", "import time\ntime.sleep(1)"]).line
        #expect(line == "CMDLINE python3 -c 'import time time.sleep(1)'")
        #expect(try MprofFile(parsing: line + "\nMEM 1 2\n").commandLine == "python3 -c 'import time time.sleep(1)'")
    }
}
