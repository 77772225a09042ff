import MemoryProfiler
import MemoryProfilerSystem

extension MprofFile {
    /// Parses what `reader` reads, in chunks of 1 MiB: the reader may have looked ahead at the first bytes
    /// already, so that a FIFO is read once.
    init(reading reader: FileReader) throws(MprofFileError) {
        var parser = Parser(path: reader.path, expectedBytes: reader.regularFileSize ?? 0)
        if let failure = try reader.forEachChunk({ (chunk) throws(MprofFileError) in try parser.consume(chunk) }) {
            throw MprofFileError(.unreadable, path: reader.path, line: nil, message: failure.message)
        }
        self = try parser.finish()
    }
}
