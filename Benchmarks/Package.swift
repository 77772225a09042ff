// swift-tools-version:6.0
// Benchmarks live in their own package so that `swift test` of the main package never builds them.
// Run from this directory: swift run -c release sampler-benchmark (or line-profiler-benchmark, mprof-benchmark)
import PackageDescription

let package = Package(
    name: "swift-memory-profiler-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-memory-profiler", path: ".."),
    ],
    targets: [
        .target(name: "BenchmarkSupport"),
        .executableTarget(
            name: "sampler-benchmark",
            dependencies: ["BenchmarkSupport", .product(name: "MemoryProfiler", package: "swift-memory-profiler")],
            path: "Sources/SamplerBenchmark"
        ),
        .executableTarget(name: "mprof-benchmark", dependencies: ["BenchmarkSupport"], path: "Sources/MprofBenchmark"),
        .executableTarget(
            name: "budget-benchmark",
            dependencies: ["BenchmarkSupport", .product(name: "MemoryProfiler", package: "swift-memory-profiler")],
            path: "Sources/BudgetBenchmark"
        ),
        .executableTarget(
            name: "line-profiler-benchmark",
            dependencies: [
                "BenchmarkSupport", .product(name: "MemoryProfilerMacros", package: "swift-memory-profiler"),
            ],
            path: "Sources/LineProfilerBenchmark"
        ),
    ]
)
