// The reader of `mprof lines FILE.json`: a line-by-line profile as MPROF_LINE_JSON saves it.
//
// `mprof lines` decodes the file with Foundation's JSONDecoder into the library's public `LineProfileReport`
// and prints it with the library's renderers, so this target calls exactly those — no command-line code is
// involved. What the library writes (`json()`) must decode back to the same report.
import Foundation
import MemoryProfiler

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLineProfileJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let report = try? JSONDecoder().decode(LineProfileReport.self, from: Data(bytes)) else { return 0 }
    _ = report.text()
    _ = report.text(precision: 12, style: .classic)
    let json = report.json()
    let reread: LineProfileReport
    do {
        reread = try JSONDecoder().decode(LineProfileReport.self, from: Data(json.utf8))
    } catch {
        fatalError("LineProfileReport.json() wrote JSON that does not decode: \(error)\n\(json)")
    }
    if reread != report { fatalError("LineProfileReport.json() does not round-trip:\n\(json)") }
    return 0
}
