// swift-tools-version:6.0
import CompilerPluginSupport
import PackageDescription

let package = Package(
    name: "swift-memory-profiler",
    products: [
        .library(name: "MemoryProfiler", targets: ["MemoryProfiler"]),
        .library(name: "MemoryProfilerMacros", targets: ["MemoryProfilerMacros"]),
        .library(name: "MemoryPlot", targets: ["MemoryPlot"]),
        .library(name: "MemoryReports", targets: ["MemoryReports"]),
        .library(name: "MemoryProfilerTesting", targets: ["MemoryProfilerTesting"]),
        // `swift package mprof …`: profile a product, run the tests with budgets, and mprof's other commands.
        .plugin(name: "MemoryProfilerCommand", targets: ["MemoryProfilerCommand"]),
        .executable(name: "mprof", targets: ["mprof"]),
        // The heap profiler's malloc hook, loaded with LD_PRELOAD: libmprof-heap-hook.so.
        .library(name: "mprof-heap-hook", type: .dynamic, targets: ["MemoryProfilerHeapHook"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swiftlang/swift-syntax", "600.0.0"..<"604.0.0"),
        // Tests only: random and mutated .dat files for the reader and the plots.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // C declarations Glibc does not export (mallinfo2, prctl), and zlib (libz.a in the static mprof; zlib1g-dev
        // is one of Swift's own prerequisites on Linux).
        // Its header also brings the heap hook's public header, its exported functions, to the library.
        .target(name: "CMemoryProfilerShims", linkerSettings: [.linkedLibrary("z")]),
        // The floor: every system call the package makes, one descriptor type, one error type. Not a product:
        // the modules above import it, users never see it.
        .target(name: "MemoryProfilerSystem", dependencies: ["CMemoryProfilerShims"]),
        .target(name: "MemoryProfiler", dependencies: ["MemoryProfilerSystem"]),

        // Reports as text and data: the heap report, explain, the verdict, diffs, the tables and the one way numbers
        // are written. What mprof prints, a program that links the library can print too.
        .target(name: "MemoryReports", dependencies: ["MemoryProfiler", "MemoryProfilerSystem"]),

        // Memory budgets for Swift Testing: traits that fail a test crossing its limits, measured per test.
        .target(name: "MemoryProfilerTesting", dependencies: ["MemoryProfiler", "MemoryReports", "MemoryProfilerSystem"]),

        .plugin(
            name: "MemoryProfilerCommand",
            capability: .command(
                intent: .custom(verb: "mprof", description: "Profile a product's memory with mprof, or run the tests with memory budgets"),
                permissions: [
                    .writeToPackageDirectory(reason: "mprof leaves its recordings and plots in .mprof/ of the package")
                ])),

        // Plots of .dat files as SVG, HTML and terminal text, with no dependency beyond the library.
        .target(name: "MemoryPlot", dependencies: ["MemoryProfiler", "MemoryProfilerSystem"]),

        // @MemoryProfiled, line by line. swift-syntax stays in these targets: mprof never compiles it.
        .macro(
            name: "MemoryProfilerPlugin",
            dependencies: [
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        .target(name: "MemoryProfilerMacros", dependencies: ["MemoryProfiler", "MemoryProfilerPlugin"]),

        // mprof: the subcommands live in a library so tests can drive them; the executable is only @main.
        .target(
            name: "MemoryProfilerCLI",
            dependencies: [
                "MemoryProfiler", "MemoryPlot", "MemoryReports", "MemoryProfilerSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Linked fully statically: loading a dozen shared libraries was most of mprof's start-up. The two libraries
        // are parts of Foundation Essentials that only a static link must name. Unsafe flags keep other packages
        // from depending on this product only, not on the libraries. lld, which ships with Swift, because GNU ld
        // warns about glibc functions that static libraries of the toolchain reference and mprof never calls.
        .executableTarget(
            name: "mprof", dependencies: ["MemoryProfilerCLI", "mprof-spawn"],
            linkerSettings: [
                .unsafeFlags(["-static-executable", "-use-ld=lld"]), .linkedLibrary("_FoundationCShims"),
                .linkedLibrary("_FoundationCollections"),
            ]),
        // The tiny launcher mprof run starts programs through, so that their lifetime peak is their own. Plain C,
        // linked statically and without Swift's start-up file (which pulls in the Swift runtime): it starts in
        // 0.5 ms instead of 2.5 ms.
        .executableTarget(name: "mprof-spawn", linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-executable"])]),
        // The heap profiler's malloc hook, preloaded into programs of any language: plain C, and the library must
        // need nothing but libc and libgcc_s (the unwinder's FDE search). SwiftPM links it with the Swift driver,
        // which adds swiftrt.o (a constructor that registers the image with libswiftCore) unless -nostartfiles, and
        // -lswiftCore (from the static archive with -static-stdlib, so nothing of it is linked). -static-stdlib also
        // adds -lstdc++ and -lm; family.c puts --as-needed before them through its autolink section, so they are not
        // dependencies either.
        // Optimized in every build: it runs inside the profiled program, whose timing it must not change. Built
        // -O0 (a debug build, as `swift test` makes), a signal handler's call cost over 20 µs, and a program
        // interrupted every 20 µs spent minutes in its handlers where it takes two seconds.
        .target(
            name: "MemoryProfilerHeapHook", cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-stdlib"])]),

        // Runnable examples; the tests run them too, so they cannot rot.
        .executableTarget(
            name: "reader-comparison", dependencies: ["MemoryProfiler"], path: "Examples/ReaderComparison"),
        .executableTarget(name: "memory-scaling", dependencies: ["MemoryProfiler"], path: "Examples/MemoryScaling"),
        .executableTarget(name: "step-alloc", dependencies: ["MemoryProfiler"], path: "Examples/StepAlloc"),
        .executableTarget(
            name: "line-profile", dependencies: ["MemoryProfilerMacros"], path: "Examples/LineProfile"),

        // A program that allocates, forks and exits on command: the real process the tests measure.
        .executableTarget(
            name: "memory-workload", dependencies: ["MemoryProfiler", "MemoryProfilerSystem"], path: "Tests/Workload"),
        .executableTarget(
            name: "line-workload", dependencies: ["MemoryProfilerMacros"], path: "Tests/LineWorkload"),
        // The heap profiler's truth workload: allocations at known sites, in known numbers and sizes.
        .executableTarget(name: "heap-workload", path: "Tests/HeapWorkload"),
        // A program that profiles a piece of its own work (HeapRegion).
        .executableTarget(
            name: "heap-region-workload", dependencies: ["MemoryProfiler", "MemoryReports"], path: "Tests/HeapRegionWorkload"),
        .target(
            name: "MemoryProfilerTestSupport", dependencies: ["MemoryProfiler", "MemoryProfilerSystem"],
            path: "Tests/TestSupport"),
        .testTarget(
            name: "MemoryProfilerTests",
            dependencies: [
                "MemoryProfiler", "MemoryProfilerSystem", "MemoryProfilerTestSupport", "memory-workload",
                "reader-comparison", "memory-scaling",
            ]
        ),
        // The floor's own calls, against the kernel's answers.
        .testTarget(name: "MemoryProfilerSystemTests", dependencies: ["MemoryProfilerSystem"]),
        .testTarget(
            name: "MemoryPlotTests",
            dependencies: ["MemoryPlot", .product(name: "PropertyBased", package: "swift-property-based")],
            exclude: ["Scripts"]
        ),
        .testTarget(
            name: "MemoryProfilerMacrosTests",
            dependencies: [
                "MemoryProfilerMacros", "MemoryProfilerPlugin", "MemoryProfilerTestSupport", "line-workload",
                "line-profile",
                .product(name: "SwiftSyntaxMacrosGenericTestSupport", package: "swift-syntax"),
            ]
        ),
        // The tests run the mprof product, which `swift build --build-tests` and `swift test` build with everything
        // else; as a dependency its module would be linked into the test bundle with its static Swift runtime.
        .testTarget(
            name: "MemoryProfilerCLITests",
            dependencies: [
                "MemoryProfilerCLI", "MemoryProfilerSystem", "MemoryProfilerTestSupport", "memory-workload", "line-workload", "step-alloc",
                "memory-scaling", "heap-workload", "heap-region-workload",
            ]
        ),
    ]
)
