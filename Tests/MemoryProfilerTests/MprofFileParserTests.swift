import Foundation
import MemoryProfiler
import Testing

/// The incremental parser: any way of cutting a file into chunks gives the file that parsing it whole gives.
@Suite struct MprofFileParserTests {
    /// Every chunk size from 1 byte up, over memory_profiler's own files (with CHLD, FUNC and CMDLINE records)
    /// and a CRLF copy of one.
    @Test(arguments: ["children_include_multiprocess.dat", "step_alloc.dat", "exec_non_python.dat", "crlf"])
    func anyChunkingGivesTheWholeFile(name: String) throws {
        let text =
            name == "crlf"
            ? try String(contentsOfFile: "\(MprofFileTests.samples)/step_alloc.dat", encoding: .utf8)
                .replacingOccurrences(of: "\n", with: "\r\n")
            : try String(contentsOfFile: "\(MprofFileTests.samples)/\(name)", encoding: .utf8)
        let whole = try MprofFile(parsing: text, path: name)
        #expect(!whole.samples.isEmpty)
        let bytes = Array(text.utf8)
        for size in [1, 2, 3, 7, 31, 64, 1000, bytes.count - 1, bytes.count, bytes.count + 1] where size > 0 {
            var parser = MprofFile.Parser(path: name)
            var start = 0
            try bytes.withUnsafeBytes { buffer in
                while start < buffer.count {
                    let end = min(start + size, buffer.count)
                    try parser.consume(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
                    start = end
                }
            }
            let chunked = try parser.finish()
            #expect(chunked.samples == whole.samples, "chunks of \(size)")
            #expect(chunked.functions == whole.functions, "chunks of \(size)")
            #expect(chunked.children == whole.children, "chunks of \(size)")
            #expect(chunked.commandLine == whole.commandLine, "chunks of \(size)")
            #expect(chunked.peak() == whole.peak(), "chunks of \(size)")
        }
    }

    /// A line that grows past the limit across many small chunks is refused before it is held whole, with its
    /// line number.
    @Test func aLineTooLongIsRefusedWhileItArrives() throws {
        var parser = MprofFile.Parser(path: "long.dat")
        try Array("MEM 1 1\n".utf8).withUnsafeBytes { try parser.consume($0) }
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var refused: MprofFileError?
        for _ in 0..<(MprofFile.maximumLineLength / chunk.count + 2) {
            do {
                try chunk.withUnsafeBytes { try parser.consume($0) }
            } catch let error as MprofFileError {
                refused = error
                break
            }
        }
        let error = try #require(refused)
        #expect(error.code == .lineTooLong && error.line == 2)
    }
}
