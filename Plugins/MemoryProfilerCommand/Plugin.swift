import Foundation
import PackagePlugin

/// `swift package mprof …`: mprof from inside a package.
///
/// - `swift package mprof run PRODUCT [mprof run options…] [-- ARGUMENTS…]` builds PRODUCT in release (with debug
///   information, so that heap sites have files and lines), profiles it with `mprof run`, and plots the recording:
///   the `.dat`, the `.heap` (with `--heap`) and the `.svg` go to `.mprof/` in the package.
/// - `swift package mprof test [swift test arguments…]` runs `mprof test`: the tests with the heap hook, so that
///   memory budgets (MemoryProfilerTesting) are checked.
/// - `swift package mprof peak|plot|heap|explain|… ARGUMENTS…` passes through to mprof.
///
/// mprof itself is found as `MPROF` names it, or on `PATH` (build it with `swift build -c release --product mprof
/// --product mprof-heap-hook` in swift-memory-profiler and put `.build/release` on `PATH`).
@main
struct MemoryProfilerCommand: CommandPlugin {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let mprof = try Self.locateMprof()
        guard let command = arguments.first else {
            throw Failure(description: "usage: swift package mprof run PRODUCT [options] [-- arguments] | test [arguments] | peak|plot|heap … ")
        }
        let rest = Array(arguments.dropFirst())
        switch command {
        case "run":
            try await run(rest, context: context, mprof: mprof)
        case "test":
            // A scratch path of its own: the `swift package` running this plugin holds the package's own.
            let scratch = context.pluginWorkDirectoryURL.appendingPathComponent("build").path
            try Self.execute(
                mprof, ["test", "--package-path", context.package.directoryURL.path, "--scratch-path", scratch] + rest)
        default:
            try Self.execute(mprof, arguments)
        }
    }

    private func run(_ arguments: [String], context: PluginContext, mprof: URL) async throws {
        guard let product = arguments.first, !product.hasPrefix("-") else {
            throw Failure(description: "swift package mprof run needs a product: swift package mprof run PRODUCT [options] [-- arguments]")
        }
        let separator = arguments.firstIndex(of: "--")
        let options = Array(arguments[1..<(separator ?? arguments.count)])
        let programArguments = separator.map { Array(arguments[($0 + 1)...]) } ?? []
        guard context.package.products.contains(where: { $0.name == product && $0 is ExecutableProduct }) else {
            let names = context.package.products.compactMap { $0 is ExecutableProduct ? $0.name : nil }
            throw Failure(
                description: "no executable product \(Self.escaped(product)) in this package (its executables: "
                    + names.map(Self.escaped).joined(separator: ", ") + ")")
        }
        var parameters = PackageManager.BuildParameters(configuration: .release, logging: .concise)
        parameters.otherSwiftcFlags = ["-g"]
        parameters.otherCFlags = ["-g"]
        let build = try packageManager.build(.product(product), parameters: parameters)
        guard build.succeeded else {
            throw Failure(description: "building \(Self.escaped(product)) failed:\n\(build.logText)")
        }
        guard let executable = build.builtArtifacts.first(where: { $0.kind == .executable })?.url else {
            throw Failure(description: "building \(Self.escaped(product)) made no executable")
        }
        let directory = context.package.directoryURL.appendingPathComponent(".mprof")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stamp = Int(Date().timeIntervalSince1970)
        let recording = directory.appendingPathComponent("\(product)-\(stamp).dat").path
        let picture = directory.appendingPathComponent("\(product)-\(stamp).svg").path
        let status = try Self.launch(mprof, ["run", "-o", recording] + options + [executable.path] + programArguments)
        if FileManager.default.fileExists(atPath: recording) {
            _ = try Self.launch(mprof, ["plot", "-o", picture, recording])
            print("mprof: \(Self.escaped(product))'s memory is in \(Self.escaped(recording)), plotted in \(Self.escaped(picture))")
        }
        guard status == 0 else {
            throw Failure(
                description: status == 3
                    ? "\(Self.escaped(product)) crossed a memory budget (mprof run exited with status 3; see above)"
                    : "mprof run exited with status \(status)")
        }
    }

    /// mprof: `MPROF`, or the first on `PATH`.
    static func locateMprof() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let named = environment["MPROF"], !named.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: named) else {
                throw Failure(description: "MPROF names \(Self.escaped(named)), which is not an executable file")
            }
            return URL(fileURLWithPath: named)
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/mprof"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw Failure(
            description: "mprof is not on PATH: build it in swift-memory-profiler with `swift build -c release --product mprof "
                + "--product mprof-heap-hook` and put its .build/release on PATH, or name it with MPROF=/path/to/mprof")
    }

    /// `text` with every control character and other unprintable scalar written as `\u{…}`, for the terminal.
    static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default:
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Runs `executable` with the plugin's standard streams; its exit status.
    static func launch(_ executable: URL, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs `executable`, and fails as it does.
    static func execute(_ executable: URL, _ arguments: [String]) throws {
        let status = try launch(executable, arguments)
        guard status == 0 else {
            throw Failure(description: "mprof \(escaped(arguments.first ?? "")) exited with status \(status)")
        }
    }
}
