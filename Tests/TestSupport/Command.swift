import Foundation
import MemoryProfiler
import MemoryProfilerSystem

/// What a finished command printed and how it ended.
package struct CommandResult: Sendable {
    package var termination: ChildProcess.Termination
    package var standardOutput: String
    package var standardError: String

    package var status: Int32 { termination.shellStatus }
}

/// Runs a built product of this package (`mprof`, an example) to its end.
///
/// - Parameters:
///   - product: The executable's name, found beside the running test bundle.
///   - arguments: Its arguments.
///   - environment: Variables added to this process's environment.
package func runProduct(
    _ product: String, _ arguments: [String], environment: [String: String] = [:]
) throws -> CommandResult {
    try run(BuiltProducts.path(product), arguments, environment: environment)
}

/// Runs a command found on `PATH` (a peer tool such as `gdb` or `python3`) to its end; a missing command is
/// an error, so a test that needs it fails instead of passing without it.
package func runCommand(
    _ name: String, _ arguments: [String], environment: [String: String] = [:]
) throws -> CommandResult {
    guard let executable = name.contains("/") ? name : ExecutableLookup.find(name) else {
        throw MemoryError(.unavailable, "\(name) is not on PATH; the test needs it")
    }
    return try run(executable, arguments, environment: environment)
}

private func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> CommandResult {
    let errorFile = FileManager.default.temporaryDirectory
        .appendingPathComponent("stderr-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: errorFile) }
    let child = try ChildProcess.spawn(
        executable, arguments: arguments, environment: environment, standardInput: .null,
        standardOutput: .pipe, standardError: .file(errorFile))
    let output = child.readOutput()
    child.closePipes()
    let termination = try child.wait()
    let errors = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
    return CommandResult(
        termination: termination, standardOutput: String(decoding: output, as: UTF8.self), standardError: errors)
}
