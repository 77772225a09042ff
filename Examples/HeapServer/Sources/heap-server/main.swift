#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import PageStore
import Rendering
import Synchronization

// heap-server [--port N] [--page-size BYTES] [--port-file PATH]
// GET /page/ID     a page of PAGE-SIZE bytes, rendered once and then kept in the cache
// GET /session/ID  opens a session that leaks (a retain cycle)
// GET /stats       {"requests":…,"pages":…,"pageBytes":…,"sessions":…}: the server's own counts, the test's witness
// --port 0 takes a free port; --port-file PATH receives the port once the server listens (written to PATH.new, then
// renamed, so a reader never sees half of it). SIGTERM or SIGINT stops the server gracefully.

struct Options {
    var port = 8080
    var pageSize = 4096
    var portFile: String?

    static func parse(_ arguments: [String]) -> Options {
        let usage = "usage: heap-server [--port N] [--page-size BYTES] [--port-file PATH]"
        var options = Options()
        var arguments = arguments[...]
        while let option = arguments.popFirst() {
            guard let value = arguments.popFirst() else { fatalError(usage) }
            switch (option, Int(value)) {
            case ("--port", let number?) where (0...65535).contains(number): options.port = number
            case ("--page-size", let number?) where (64...(1 << 24)).contains(number): options.pageSize = number
            case ("--port-file", _) where !value.isEmpty: options.portFile = value
            default: fatalError(usage)
            }
        }
        return options
    }
}

/// Writes `port` to `path` through a file beside it and a rename.
func publish(port: Int, to path: String) {
    let temporary = path + ".new"
    guard let file = fopen(temporary, "w") else { fatalError("heap-server: cannot write \(temporary)") }
    let written = fputs("\(port)\n", file) >= 0
    guard fclose(file) == 0, written, rename(temporary, path) == 0 else { fatalError("heap-server: cannot write \(path)") }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let renderer = PageRenderer(pageSize: options.pageSize)
let cache = PageCache(renderer: renderer)
let sessions = SessionRegistry()
let requests = Atomic<Int>(0)

let router = Router()
router.get("page/:id") { _, context -> ByteBuffer in
    requests.add(1, ordering: .relaxed)
    let id = try context.parameters.require("id", as: Int.self)
    return ByteBuffer(bytes: cache.page(id).body)
}
router.get("session/:id") { _, context -> String in
    requests.add(1, ordering: .relaxed)
    let id = try context.parameters.require("id", as: Int.self)
    return "session \(sessions.open(id: id))\n"
}
router.get("stats") { _, _ -> ByteBuffer in
    let (pages, bytes) = cache.statistics
    let body = renderer.renderStatistics([
        ("requests", requests.load(ordering: .relaxed)), ("pages", pages), ("pageBytes", bytes),
        ("sessions", sessions.openedCount),
    ])
    return ByteBuffer(bytes: body)
}

let app = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: options.port)),
    onServerRunning: { channel in
        if let portFile = options.portFile, let port = channel.localAddress?.port { publish(port: port, to: portFile) }
    })
try await app.runService()
