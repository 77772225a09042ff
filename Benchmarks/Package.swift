// swift-tools-version:6.0
// Benchmarks live in their own package so that `swift test` of the main package never builds them.
// Run from this directory: swift run -c release sampler-benchmark (or line-profiler-benchmark)
import PackageDescription

let package = Package(
    name: "swift-memory-profiler-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-memory-profiler", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "sampler-benchmark",
            dependencies: [.product(name: "MemoryProfiler", package: "swift-memory-profiler")],
            path: "Sources/SamplerBenchmark"
        ),
        .executableTarget(
            name: "line-profiler-benchmark",
            dependencies: [.product(name: "MemoryProfilerMacros", package: "swift-memory-profiler")],
            path: "Sources/LineProfilerBenchmark"
        ),
    ]
)
