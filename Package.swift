// swift-tools-version:6.0
import PackageDescription

// Release builds must target a CPU with FMA: plain `-O` targets baseline x86-64, where the SIMD
// kernels' fused multiply-adds become library calls (5-100x slower). The Makefile passes
// `-Xswiftc -target-cpu -Xswiftc $(CPU)`; see the README.
//
// The targets follow one trial's data flow (README, "How the code is laid out"):
//   RegimeCore      engine, data, instruments, training: a spec in, a curve and a result out. No MPI.
//   RegimeAnalysis  curves in, decay times and cross-seed statistics out. No MPI, no files.
//   SweepStore      sweep files and the results directory (journal, curves, summaries). No MPI.
//   RegimeReport    the HTML report of a results directory. No MPI.
//   RegimeMPI       the safe MPI layer over CMPI, used by both sides of the sweep protocol.
//   Worker          what a non-zero rank does: the worker loop, the trial runner, the wire messages.
//   RegimeBench     benchmarks of the engine (GEMM, training loops, peak memory of a trial).
//   Coordinator     rank 0 (scheduling, journal, summaries) and the `regime` command line.
let package = Package(
    name: "regime",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "regime", targets: ["Coordinator"]),
        .library(name: "RegimeCore", targets: ["RegimeCore"]),
        .library(name: "RegimeAnalysis", targets: ["RegimeAnalysis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // glibc's malloc.h (mallinfo2): the resource-estimate tests measure real allocations.
        .systemLibrary(name: "CMalloc"),
        // What Swift's SIMD cannot express (shim.h): prefetch hints, and a lane mask as an integer.
        .systemLibrary(name: "CIntrinsics"),
        .target(name: "RegimeCore", dependencies: ["CZlib", "CIntrinsics"]),
        .target(name: "RegimeAnalysis", dependencies: ["RegimeCore"]),
        .target(
            name: "SweepStore",
            dependencies: ["RegimeCore", "RegimeAnalysis", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "RegimeReport", dependencies: ["RegimeCore", "RegimeAnalysis", "SweepStore"]),
        .target(name: "RegimeMPI", dependencies: ["CMPI", "RegimeCore"]),
        .target(name: "Worker", dependencies: ["RegimeMPI", "RegimeCore"]),
        .target(name: "RegimeBench", dependencies: ["RegimeCore", "SweepStore"]),
        .executableTarget(
            name: "Coordinator",
            dependencies: [
                "Worker", "RegimeMPI", "RegimeCore", "RegimeAnalysis", "SweepStore", "RegimeReport", "RegimeBench", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "RegimeCoreTests", dependencies: ["RegimeCore", "CMalloc"], exclude: ["Golden"]),
        .testTarget(name: "RegimeAnalysisTests", dependencies: ["RegimeAnalysis", "RegimeCore"], exclude: ["Golden"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "RegimeCore", "SweepStore"]),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: ["Coordinator", "Worker", "RegimeMPI", "RegimeCore", "RegimeAnalysis", "SweepStore", "RegimeReport",
                           "RegimeBench"],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
