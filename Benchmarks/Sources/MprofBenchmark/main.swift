// What `mprof` costs as a command: start-up of `mprof run`, samples per second and CPU at a 1 ms interval
// (alone and with -M on a program with 4 children), and `mprof peak` on a 10-million-sample file.
//
//   swift build -c release --package-path .. --product mprof     (the binary under test)
//   swift run -c release mprof-benchmark [--mprof ../.build/release/mprof] [--seconds 5] [--runs 21]
import BenchmarkSupport

import Glibc

var mprof = "../.build/release/mprof"
var seconds = 5
var runs = 21
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--mprof": mprof = arguments.popFirst() ?? mprof
    case "--seconds": seconds = arguments.popFirst().flatMap { Int($0) } ?? seconds
    case "--runs": runs = arguments.popFirst().flatMap { Int($0) } ?? runs
    default:
        print("usage: mprof-benchmark [--mprof PATH] [--seconds N] [--runs N]")
        exit(2)
    }
}
guard access(mprof, X_OK) == 0 else {
    print("no mprof at \(mprof): swift build -c release --package-path .. --product mprof")
    exit(1)
}

struct Run {
    var wallSeconds: Double
    var cpuSeconds: Double
    var status: Int32
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}

/// Runs a command to its end with its output discarded; the CPU time is the command's own (not its children's).
func run(_ command: [String]) -> Run {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let start = now()
    var pid: pid_t = 0
    guard posix_spawnp(&pid, command[0], &actions, nil, argv, environ) == 0 else {
        print("cannot run \(command[0])")
        exit(1)
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let wall = now() - start
    let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    return Run(wallSeconds: wall, cpuSeconds: cpu, status: status)
}

func countLines(startingWith prefix: String, in path: String) -> Int {
    guard let file = fopen(path, "r") else { return 0 }
    defer { fclose(file) }
    var count = 0
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    while getline(&line, &capacity, file) > 0 {
        if let line, strncmp(line, prefix, prefix.utf8.count) == 0 { count += 1 }
    }
    free(line)
    return count
}

let output = "/tmp/mprof-benchmark-\(getpid()).dat"
defer { unlink(output) }

print("mprof: \(mprof)")
print("")

// Start-up: the wall time mprof run adds around a program that does nothing, as typed (the file named after the
// time, in a scratch directory) and with an option, which mprof reads through ArgumentParser. The three commands take
// turns, so that load from elsewhere falls on all of them alike.
if let absolute = realpath(mprof, nil) {
    mprof = String(cString: absolute)
    free(absolute)
}
let scratch = "/tmp/mprof-benchmark-\(getpid())"
mkdir(scratch, 0o700)
chdir(scratch)
var direct: [Double] = []
var typed: [Double] = []
var withOption: [Double] = []
for _ in 0..<runs {
    direct.append(run(["/bin/true"]).wallSeconds)
    typed.append(run([mprof, "run", "--", "/bin/true"]).wallSeconds)
    if let directory = opendir(".") {
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { unlink(name) }
        }
        closedir(directory)
    }
    unlink(output)
    withOption.append(run([mprof, "run", "-o", output, "--", "/bin/true"]).wallSeconds)
}
chdir("/")
rmdir(scratch)
func milliseconds(_ seconds: Double) -> String { TableText.fixed(seconds * 1e3, 2) + " ms" }
let base = TableText.median(direct)
let typedMedian = TableText.median(typed)
let optionMedian = TableText.median(withOption)
print("start-up, medians of \(runs): /bin/true \(milliseconds(base)); "
    + "mprof run -- /bin/true \(milliseconds(typedMedian)), adds \(milliseconds(typedMedian - base)); "
    + "with -o FILE \(milliseconds(optionMedian)), adds \(milliseconds(optionMedian - base))")
print("(memory_profiler's mprof run /bin/true: ≈200 ms measured beside it, ≈500 ms in the reference)")
print("")

// Sampling rate and cost at 1 ms.
print("\(TableText.pad("case", 40)) \(TableText.pad("samples/s", 10)) \(TableText.pad("mprof CPU", 10))")
for (name, options, program) in [
    ("-T 0.001, sleep", ["-T", "0.001"], ["sleep", "\(seconds)"]),
    (
        "-T 0.001 -M, 4 children", ["-T", "0.001", "-M"],
        ["sh", "-c", (0..<4).map { _ in "sleep \(seconds) &" }.joined(separator: " ") + " wait"]
    ),
    (
        "-T 0.001 -C, 4 children", ["-T", "0.001", "-C"],
        ["sh", "-c", (0..<4).map { _ in "sleep \(seconds) &" }.joined(separator: " ") + " wait"]
    ),
] {
    unlink(output)
    let result = run([mprof, "run"] + options + ["-o", output, "--"] + program)
    let samples = countLines(startingWith: "MEM ", in: output)
    let rate = Double(samples) / result.wallSeconds
    print("\(TableText.pad(name, 40)) \(TableText.pad(TableText.fixed(rate, 0), 10)) "
        + "\(TableText.pad(TableText.fixed(result.cpuSeconds / result.wallSeconds * 100, 1) + " %", 10))")
}
print("memory_profiler: 722–811 samples/s at 10–12 %; with -C/-M about 225/s at 50 %")
print("")

// mprof peak and mprof plot on large files.
func writeSamples(_ count: Int) {
  unlink(output)
  if let file = fopen(output, "w") {
    fputs("CMDLINE benchmark\n", file)
    var line = [CChar](repeating: 0, count: 64)
    for index in 0..<count {
        let mebibytes = 100 + Double(index % 1000) / 7.0
        let time = 1_795_000_000 + Double(index) * 0.001
        _ = line.withUnsafeMutableBufferPointer { buffer in
            withVaList([mebibytes, time]) { vsnprintf(buffer.baseAddress, 64, "MEM %.6f %.4f\n", $0) }
        }
        fputs(line, file)
    }
    fclose(file)
  }
}
let picture = "/tmp/mprof-benchmark-\(getpid()).svg"
defer { unlink(picture) }
for count in [1_000_000, 10_000_000] {
    writeSamples(count)
    let peakRuns = (0..<5).map { _ in run([mprof, "peak", output]).wallSeconds }
    let plotRuns = (0..<5).map { _ in run([mprof, "plot", "-o", picture, output]).wallSeconds }
    var status = stat()
    stat(picture, &status)
    print("\(count) samples: mprof peak \(TableText.fixed(TableText.median(peakRuns), 2)) s, "
        + "mprof plot \(TableText.fixed(TableText.median(plotRuns), 2)) s to an SVG of \(status.st_size / 1024) KiB "
        + "(medians of 5)")
}
