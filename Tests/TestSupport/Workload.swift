import Foundation
import MemoryProfiler
import MemoryProfilerSystem

/// Where the package's executables were built: beside the test bundle that is running.
package enum BuiltProducts {
    package static let directory: String = {
        let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return (bundle as NSString).deletingLastPathComponent
    }()

    /// The path of the executable product or target named `name`.
    package static func path(_ name: String) -> String {
        "\(directory)/\(name)"
    }
}

/// A running `memory-workload` process, driven line by line (see Tests/Workload/main.swift).
package final class Workload {
    package let process: ChildProcess
    package var id: ProcessID { process.id }

    /// Starts `memory-workload` (or a copy of it at `executable`) with `arguments`, and `environment` added to ours.
    package init(_ arguments: [String] = [], environment: [String: String] = [:], executable: String? = nil) throws {
        process = try ChildProcess.spawn(
            executable ?? BuiltProducts.path("memory-workload"), arguments: arguments, environment: environment,
            standardInput: .pipe, standardOutput: .pipe)
    }

    /// Starts `memory-workload` under another built product, such as `mprof run [options] -- memory-workload`:
    /// the wrapper passes its standard input and output through, so commands reach the workload as usual.
    /// Standard error goes to `errors`.
    package init(wrappedBy product: String, _ arguments: [String], errors: String) throws {
        process = try ChildProcess.spawn(
            BuiltProducts.path(product), arguments: arguments + [BuiltProducts.path("memory-workload")],
            standardInput: .pipe, standardOutput: .pipe, standardError: .file(errors))
    }

    /// Sends one command and returns the answer line.
    @discardableResult
    package func send(_ command: String) throws -> String {
        guard let input = process.standardInput else { throw WorkloadError("no input pipe") }
        let line = Array((command + "\n").utf8)
        guard line.withUnsafeBytes({ write(input, $0.baseAddress, $0.count) }) == line.count else {
            throw WorkloadError("cannot send \(command)")
        }
        return try readLine()
    }

    /// Reads one line of the workload's output.
    package func readLine() throws -> String {
        guard let output = process.standardOutput else { throw WorkloadError("no output pipe") }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(output, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        throw WorkloadError("workload ended without answering")
    }

    /// The workload's readings of itself, by reader name, in bytes.
    package func selfReadings() throws -> [String: MemorySize] {
        let answer = try send("read")
        let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Int] ?? [:]
        return object.mapValues { MemorySize(bytes: $0) }
    }

    /// Closes its input, so that it ends, and reaps it.
    @discardableResult
    package func finish() throws -> ChildProcess.Termination {
        process.closePipes()
        return try process.wait()
    }

    deinit {
        process.closePipes()
        _ = try? process.wait()
    }
}

package struct WorkloadError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// Allocates `mebibytes` and writes every byte, so that all of it is resident. Free it with `deallocate()`.
package func touchedAllocation(mebibytes: Int) -> UnsafeMutableRawPointer {
    let bytes = mebibytes << 20
    let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    block.initializeMemory(as: UInt8.self, repeating: 0xA5, count: bytes)
    return block
}

