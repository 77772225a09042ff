// swift-tools-version:6.0
// A small Hummingbird server of three modules of its own, the kind of program mprof's users run: the heap profiler's
// end-to-end test serves it requests under wrk and checks what `mprof run --heap` says against the server's own
// counts. It is a package of its own so that the profiler itself never depends on Hummingbird.
import PackageDescription

let package = Package(
    name: "heap-server",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // Renders pages: every request's temporaries come from here.
        .target(name: "Rendering"),
        // Keeps rendered pages (a cache that grows with distinct paths) and sessions (one leaks per request).
        .target(name: "PageStore", dependencies: ["Rendering"]),
        .executableTarget(
            name: "heap-server",
            dependencies: ["PageStore", "Rendering", .product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
