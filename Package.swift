// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-memory-profiler",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MemoryProfiler", targets: ["MemoryProfiler"]),
        .executable(name: "mprof", targets: ["mprof"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C declarations Glibc does not export (mallinfo2).
        .target(name: "CMemoryProfilerShims"),
        .target(name: "MemoryProfiler", dependencies: ["CMemoryProfilerShims"]),

        // mprof: the subcommands live in a library so tests can drive them; the executable is only @main.
        .target(
            name: "MemoryProfilerCLI",
            dependencies: [
                "MemoryProfiler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "mprof", dependencies: ["MemoryProfilerCLI"]),

        // Runnable examples; the tests run them too, so they cannot rot.
        .executableTarget(
            name: "reader-comparison", dependencies: ["MemoryProfiler"], path: "Examples/ReaderComparison"),
        .executableTarget(name: "memory-scaling", dependencies: ["MemoryProfiler"], path: "Examples/MemoryScaling"),

        // A program that allocates, forks and exits on command: the real process the tests measure.
        .executableTarget(name: "memory-workload", dependencies: ["MemoryProfiler"], path: "Tests/Workload"),
        .target(name: "MemoryProfilerTestSupport", dependencies: ["MemoryProfiler"], path: "Tests/TestSupport"),
        .testTarget(
            name: "MemoryProfilerTests",
            dependencies: [
                "MemoryProfiler", "MemoryProfilerTestSupport", "memory-workload", "reader-comparison", "memory-scaling",
            ]
        ),
        .testTarget(
            name: "MemoryProfilerCLITests",
            dependencies: ["MemoryProfilerCLI", "MemoryProfilerTestSupport", "mprof", "memory-workload"]
        ),
    ]
)
