import Foundation
import MemoryProfiler
import MemoryProfilerSystem
import MemoryProfilerTestSupport
import Testing

/// The heap profiler on the kind of program its users run: `Examples/HeapServer`, a Hummingbird server of three
/// modules of its own, profiled with `mprof run --heap` while wrk (Debian's) sends it requests. The server counts what
/// it did (pages cached, sessions leaked); the profile must say the same.
@Suite(.serialized)
struct ServerHeapProfilingTests {
    static let wrkInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk")
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    static let pageSize = 4096

    /// Builds the server in release (about 3 minutes the first time; `.ci/run` builds it before the tests) into
    /// `.build-heap-server`, and returns the executable's path.
    static func buildServer() throws -> String {
        let scratch = "\(root)/.build-heap-server"
        let build = try runCommand(
            "swift", ["build", "-c", "release", "--package-path", "\(root)/Examples/HeapServer", "--scratch-path", scratch])
        try #require(build.status == 0, "\(build.standardOutput.suffix(3000))\(build.standardError.suffix(2000))")
        return "\(scratch)/release/heap-server"
    }

    /// The server's own counts, from `GET /stats`.
    struct Statistics: Decodable {
        var requests: Int
        var pages: Int
        var pageBytes: Int
        var sessions: Int
    }

    /// A plain HTTP GET on the loopback that closes the connection: the response's body. Reads time out after
    /// 10 seconds, so a server that stops answering fails the test instead of hanging it.
    static func get(_ path: String, port: Int) throws -> Data {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { close(socket) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "cannot connect to port \(port): errno \(errno)")
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        try #require(write(socket, request, request.count) == request.count)
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while response.count < 1 << 20 {
            let count = read(socket, &buffer, buffer.count)
            if count <= 0 { break }
            response.append(contentsOf: buffer[..<count])
        }
        let separator = try #require(response.range(of: Data("\r\n\r\n".utf8)), "no HTTP response: \(response.count) bytes")
        return response[separator.upperBound...]
    }

    @Test(.enabled(if: wrkInstalled, "wrk is not installed (apt-get install wrk; .ci/run installs it)"), .timeLimit(.minutes(20)))
    func aHummingbirdServerUnderWrkIsProfiledWithItsOwnCounts() throws {
        let server = try Self.buildServer()
        let directory = try TemporaryDirectory()
        let portFile = "\(directory.path)/port"
        let mprof = try ChildProcess.spawn(
            BuiltProducts.path("mprof"),
            arguments: ["run", "--heap", "-o", "\(directory.path)/server.dat", server, "--port", "0", "--port-file", portFile],
            standardInput: .null, standardOutput: .file("\(directory.path)/stdout"), standardError: .file("\(directory.path)/stderr"))
        var stopped = false
        defer { if !stopped { kill(mprof.pid, SIGKILL); _ = try? mprof.wait() } }

        // The server says its port once it listens.
        var port: Int?
        for _ in 0..<600 where port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if port == nil { usleep(100_000) }
        }
        let serverPort = try #require(port, "the server did not start: \((try? String(contentsOfFile: "\(directory.path)/stderr", encoding: .utf8)) ?? "")")

        let load = try runCommand(
            "wrk", ["-t1", "-c4", "-d3s", "-s", "\(Self.root)/Examples/HeapServer/requests.lua", "http://127.0.0.1:\(serverPort)/"])
        #expect(load.status == 0, "\(load.standardError)")
        // "52434 requests in 3.00s, 190.30MB read"
        let completed = load.standardOutput.split(separator: "\n")
            .first { $0.contains(" requests in ") }.flatMap { Int($0.split(separator: " ").first ?? "") }
        let statistics = try JSONDecoder().decode(Statistics.self, from: try Self.get("/stats", port: serverPort))
        // The run's whole load reached the server: every request wrk saw answered, and the in-flight few at its end.
        let wrkRequests = try #require(completed, "\(load.standardOutput)")
        #expect(wrkRequests > 1000 && statistics.requests >= wrkRequests && statistics.requests <= wrkRequests + 8, "\(statistics) \(load.standardOutput)")
        #expect(statistics.pages == 900 && statistics.pageBytes == 900 * Self.pageSize, "\(statistics)")

        // Read while the server runs: the capture so far, said to be that, and no leak verdict yet.
        let live = try runProduct("mprof", ["heap", "\(directory.path)/server.heap", "--view", "summary", "--view", "leaks", "--top", "1"])
        #expect(live.status == 0, "\(live.standardError)")
        #expect(live.standardOutput.contains("The program is still running and writing this capture"), "\(live.standardOutput)")
        #expect(live.standardOutput.contains("LEAKS: not known before the program exits"), "\(live.standardOutput)")
        #expect(!live.standardOutput.contains("killed"), "\(live.standardOutput)")

        // SIGTERM to mprof reaches the server, which shuts down gracefully: a normal exit, so the leak scan runs.
        kill(mprof.pid, SIGTERM)
        let termination = try mprof.wait()
        stopped = true
        let stderr = (try? String(contentsOfFile: "\(directory.path)/stderr", encoding: .utf8)) ?? ""
        #expect(termination.shellStatus == 0, "\(termination) \(stderr)")

        let capture = try HeapCapture(path: "\(directory.path)/server.heap")
        #expect(capture.summary.finishedNormally)
        let profile = HeapProfile(capture, symbols: HeapSymbolizer().symbolize(capture))

        // The cache at exit: exactly the server's 900 pages, each a CachedPage object and a body of 4,096 bytes
        // (plus the array's 32-byte header) rendered in the Rendering module, called from the PageStore module,
        // called from the server's route in main.swift, called from Hummingbird.
        let notFreed = profile.sites(.notFreed)
        let bodies = try #require(notFreed.first { $0.frame.function == "PageRenderer.render(id:)" }, "\(notFreed.prefix(5))")
        #expect(bodies.allocations == statistics.pages && bodies.bytes == statistics.pageBytes + 32 * statistics.pages, "\(bodies)")
        #expect(bodies.frame.file?.hasSuffix("Rendering/PageRenderer.swift") == true, "\(bodies.frame)")
        #expect(bodies.stack.contains { $0.function == "PageCache.page(_:)" && $0.file?.hasSuffix("PageStore/PageCache.swift") == true }, "\(bodies.stack)")
        #expect(bodies.stack.contains { $0.function.hasPrefix("closure #") && $0.function.hasSuffix("in top-level code") && $0.file?.hasSuffix("heap-server/main.swift") == true }, "\(bodies.stack)")
        let pages = notFreed.filter { $0.typeName == "CachedPage" }
        #expect(pages.reduce(0) { $0 + $1.allocations } == statistics.pages, "\(pages)")
        // At the heap's peak the cache was full: its bodies are the largest site.
        let peak = profile.sites(.peak)
        #expect(peak.first?.frame.function == "PageRenderer.render(id:)" && peak.first?.allocations == statistics.pages, "\(peak.prefix(3))")

        // Leaks: the sessions, each a Session and a SessionObserver that hold each other, and nothing the cache
        // still holds. The scan is conservative: a stale copy of a pointer can keep a few off the list.
        let leaks = profile.sites(.leaks)
        for type in ["Session", "SessionObserver"] {
            let leaked = leaks.filter { $0.typeName == type }.reduce(0) { $0 + $1.allocations }
            #expect(leaked <= statistics.sessions && Double(leaked) >= 0.95 * Double(statistics.sessions), "\(type): \(leaked) of \(statistics.sessions)")
        }
        #expect(!leaks.contains { $0.typeName == "CachedPage" || $0.frame.function == "PageRenderer.render(id:)" }, "\(leaks.prefix(5))")

        // What a user reads: the report names the modules' files and the leaking type.
        let report = try runProduct("mprof", ["heap", "\(directory.path)/server.heap", "--top", "3"])
        #expect(report.status == 0, "\(report.standardError)")
        #expect(report.standardOutput.contains("PageRenderer.render(id:) at Rendering/PageRenderer.swift:"), "\(report.standardOutput)")
        #expect(report.standardOutput.contains("Session from SessionRegistry.open(id:) at PageStore/Sessions.swift:"), "\(report.standardOutput)")

        // Shared: go tool pprof reads the peak's in-use bytes of the renderer as mprof counts them.
        if HeapExportTests.goInstalled {
            let pprof = "\(directory.path)/server.pb.gz"
            #expect(try runProduct("mprof", ["heap", "\(directory.path)/server.heap", "--pprof", pprof, "--view", "summary"]).status == 0)
            let top = try runCommand("go", ["tool", "pprof", "-top", "-unit=B", "-sample_index=inuse_space", "-focus=PageRenderer", pprof])
            #expect(top.status == 0, "\(top.standardError)")
            let rendererPeak = peak.filter { $0.stack.contains { $0.function == "PageRenderer.render(id:)" } }.reduce(0) { $0 + $1.bytes }
            let line = top.standardOutput.split(separator: "\n").first { $0.hasSuffix("PageRenderer.render(id:)") }
            let cumulative = line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[3].trimmingCharacters(in: CharacterSet(charactersIn: "B"))) }
            #expect(cumulative == rendererPeak, "\(top.standardOutput)")
        } else {
            print("skipped the pprof part: go is not installed (apt-get install golang-go; .ci/run installs it)")
        }
    }
}
