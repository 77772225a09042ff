import Foundation
import Glibc
import MemoryProfilerSystem
import Testing

/// The floor's calls against the kernel's own answers: what is removed, what is claimed, what a held signal does, what
/// the command line's bytes are.
struct FloorTests {
    private static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("floor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// Only a regular file is ever removed: not a directory, not a FIFO, and a symbolic link neither (nor its target).
    @Test func onlyARegularFileIsRemoved() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = "\(directory)/file", folder = "\(directory)/folder", fifo = "\(directory)/fifo", link = "\(directory)/link"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        #expect(mkfifo(fifo, 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)

        #expect(!FileSystem.removeRegularFile(link))
        #expect(FileManager.default.fileExists(atPath: file) && (try? FileStatus(path: link, followingLinks: false))?.kind == .symbolicLink)
        #expect(!FileSystem.removeRegularFile(folder) && FileManager.default.fileExists(atPath: folder))
        #expect(!FileSystem.removeRegularFile(fifo) && (try? FileStatus(path: fifo))?.kind == .fifo)
        #expect(!FileSystem.removeRegularFile("\(directory)/nothing"))
        #expect(FileSystem.removeRegularFile(file) && !FileManager.default.fileExists(atPath: file))
        #expect(throws: SystemError.self) { try FileSystem.removeName("\(directory)/nothing") }
    }

    /// A claim is one open file's: a second open of the same file (by another name too) cannot take it until the first
    /// is closed, and neither the claim nor its refusal touches the flock locks other writers take.
    @Test func aClaimIsOneOpenFilesAlone() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/claimed"
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/alias", withDestinationPath: "claimed")
        let first = try Descriptor.open(path, .writeOnly, options: [.create])
        let second = try Descriptor.open("\(directory)/alias", .writeOnly)
        defer { second.close() }
        #expect(try first.tryClaimByte(at: 1 << 62))
        #expect(try first.tryClaimByte(at: 1 << 62), "a claim is taken again by its owner")
        #expect(try !second.tryClaimByte(at: 1 << 62))
        #expect(try second.tryLock(exclusive: false) && first.tryLock(exclusive: false), "flock is untouched")
        first.close()
        #expect(try second.tryClaimByte(at: 1 << 62), "closing the first let the claim go")
        #expect((try FileStatus(path: path)).size == 0, "a claim past the end writes nothing")
    }

    /// A signal held back on this thread waits for `Signals.wait`, which takes it; with none pending it returns nil
    /// after the time given. (Thread-directed, so no other thread of the test process can take it.)
    @Test func aHeldSignalIsTakenByWait() throws {
        let signal = Signal.hangUp
        Signals.hold([signal])
        defer { Signals.release([signal]) }
        let start = Clocks.monotonicNanoseconds()
        #expect(Signals.wait(for: [signal], milliseconds: 50) == nil)
        let waited = Clocks.monotonicNanoseconds() - start
        #expect(waited >= 40_000_000 && waited < 2_000_000_000, "\(waited) ns")
        #expect(pthread_kill(pthread_self(), signal.rawValue) == 0)
        #expect(Signals.wait(for: [signal], milliseconds: 1000) == signal)
        #expect(Signal.hangUp.name == "SIGHUP" && Signal(rawValue: 11).name == "SIGSEGV" && Signal(rawValue: 63).name == "signal 63")
    }

    /// The command line's bytes are the process's own: as many as `CommandLine.arguments`, the same where they are UTF-8.
    @Test func theRawArgumentsAreTheCommandLine() {
        let raw = RawArguments.all
        #expect(raw.count == CommandLine.arguments.count)
        #expect(raw.map { String(decoding: $0, as: UTF8.self) } == CommandLine.arguments)
    }

    /// A file name that is not UTF-8 is found and judged by its bytes; the running executable is this test bundle's
    /// runner, and a directory is never executable as a file.
    @Test func namesAreBytes() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let name = Array(directory.utf8) + Array("/caf".utf8) + [0xE9] + Array(".sh".utf8)  // Latin-1 é
        let descriptor = try Descriptor.open(name, .writeOnly, options: [.create], permissions: 0o700)
        try descriptor.writeAll("#!/bin/sh\n")
        descriptor.close()
        #expect(try FileStatus(path: name).kind == .regular)
        #expect(FileSystem.isExecutableFile(name))
        #expect(!FileSystem.isExecutableFile(Array(directory.utf8)) && FileSystem.mayExecute(Array(directory.utf8)))
        let executable = try #require(FileSystem.ownExecutable())
        #expect(try FileStatus(path: executable).isSameFile(as: FileStatus(path: "/proc/self/exe")))
        let current = try #require(FileSystem.currentDirectory())
        #expect(String(decoding: current, as: UTF8.self) == FileManager.default.currentDirectoryPath)
    }

    /// The local time of a moment, as `date` (the witness) tells it in the same time zone.
    @Test func localTimeIsWhatDateSays() throws {
        let seconds = 1_790_000_000
        let parts = try #require(Clocks.localTime(seconds: seconds))
        let date = Process()
        date.executableURL = URL(fileURLWithPath: "/bin/date")
        date.arguments = ["-d", "@\(seconds)", "+%Y %m %d %H %M %S"]
        let pipe = Pipe()
        date.standardOutput = pipe
        try date.run()
        date.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
        #expect(fields == [parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second], "\(text)")
    }
}
