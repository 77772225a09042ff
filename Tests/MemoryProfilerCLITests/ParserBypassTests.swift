import ArgumentParser
import Testing

@testable import MemoryProfilerCLI

/// `mprof --version` and `mprof run PROGRAM…` skip the parser (about 2 ms of start-up): what mprof makes of those
/// command lines is what the parser makes of them.
@Suite struct ParserBypassTests {
    @Test(arguments: [
        ["run", "/bin/true"], ["run", "--", "/bin/true"], ["run", "sleep", "1"], ["run", "python3", "script.py"],
        // Everything after `--` is the program's, words the parser acts on anywhere else included.
        ["run", "--", "prog", "-T", "0.5", "--help", "-h", "--version", "--generate-completion-script", "bash"],
        ["run", "prog", "x", "--", "-h", "---completion", "---x"], ["run", "--", "prog", "--", "-h"],
        // Words that name subcommands elsewhere are programs here.
        ["run", "help"], ["run", "run", "x"], ["run", "--", "attach", "1"], ["run", "über", "é"],
    ])
    func aRunWithoutOptionsIsWhatTheParserReads(_ arguments: [String]) throws {
        let program = try #require(ProgramRecording.programWithoutOptions(["mprof"] + arguments))
        let parsed = try #require(try MprofCommand.parseAsRoot(arguments) as? RunCommand)
        #expect(program == parsed.program)
        #expect(parsed.recording.settings == RecordingSettings())
        #expect(!parsed.attach && !parsed.exitCode && !parsed.python && !parsed.nopython)
    }

    @Test(arguments: [
        ["run"], ["run", "--"], ["run", "-h"], ["run", "--help"], ["run", "--", "-h"], ["run", ""], ["run", "--", ""],
        ["run", "-T", "0.5", "prog"], ["run", "-o", "x.dat", "--", "prog"], ["run", "-a", "1"], ["run", "--python", "x"],
        // A word with a dash before any `--` is the parser's to read, even after the program.
        ["run", "prog", "--help"], ["run", "prog", "--generate-completion-script", "bash"], ["run", "prog", "---x"],
        ["run", "prog", "-"], ["attach", "1"], ["peak"], ["--version"], [],
    ])
    func anyOtherCommandLineGoesThroughTheParser(_ arguments: [String]) {
        #expect(ProgramRecording.programWithoutOptions(["mprof"] + arguments) == nil)
    }

    @Test func theDefaultSettingsAreTheOptionsDefaults() throws {
        #expect(try RecordingOptions.parse([]).settings == RecordingSettings())
    }
}
