// swift-tools-version:6.0
import PackageDescription

// Release builds must target a CPU with FMA: plain `-O` targets baseline x86-64, where the SIMD
// kernels' fused multiply-adds become library calls (5-100x slower). The Makefile passes
// `-Xswiftc -target-cpu -Xswiftc $(CPU)`; see the README.
let package = Package(
    name: "regime",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "regime", targets: ["Coordinator"]),
        .library(name: "RegimeCore", targets: ["RegimeCore"]),
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
        .target(
            name: "RegimeCore",
            dependencies: ["CZlib"]
        ),
        .target(
            name: "Worker",
            dependencies: ["CMPI", "RegimeCore"]
        ),
        .executableTarget(
            name: "Coordinator",
            dependencies: [
                "Worker", "RegimeCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(name: "RegimeCoreTests", dependencies: ["RegimeCore", "CMalloc"], exclude: ["Golden"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "RegimeCore"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "Worker", "RegimeCore"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
