import MemoryProfiler
import MemoryProfilerSystem

extension MprofFile {
    /// Parses what `reader` reads, in chunks of 1 MiB: the reader may have looked ahead at the first bytes
    /// already, so that a FIFO is read once.
    init(reading reader: FileReader) throws(MprofFileError) {
        var parser = Parser(path: reader.path, expectedBytes: reader.regularFileSize ?? 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count: Int
            do throws(FileReader.Failure) {
                count = try reader.read(into: buffer)
            } catch {
                throw MprofFileError(.unreadable, path: reader.path, line: nil, message: error.message)
            }
            if count == 0 { break }
            try parser.consume(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
        self = try parser.finish()
    }
}
