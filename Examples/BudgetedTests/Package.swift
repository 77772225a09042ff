// swift-tools-version:6.0
// A package of the kind mprof's users write, with memory budgets on its tests (MemoryProfilerTesting): within
// them, over them, in parallel, and written wrong. mprof's own tests build it and run its tests with and without
// the heap hook, and check what each test reports against what it allocated. It depends on the profiler by path,
// as a user adds it.
import PackageDescription

let package = Package(
    name: "budgeted-tests",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "swift-memory-profiler", path: "../.."),
    ],
    targets: [
        .target(name: "Indexing"),
        // A program to profile with `swift package mprof run indexer`.
        .executableTarget(name: "indexer", dependencies: ["Indexing"]),
        .testTarget(
            name: "IndexingTests",
            dependencies: ["Indexing", .product(name: "MemoryProfilerTesting", package: "swift-memory-profiler")]
        ),
    ]
)
