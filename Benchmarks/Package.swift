// swift-tools-version: 6.1
import PackageDescription

// Benchmarks of cbm-ingest's core, in a package of their own so that the daemon's build neither
// fetches nor compiles package-benchmark. Release mode, from this folder:
//   swift package --disable-sandbox benchmark --target DecodeBenchmarks
// or `make bench-decode` from the root.
//
// CBMCore is compiled here from the root package's own sources: Sources/CBMCore is a symbolic
// link to ../../Sources/CBMCore. The root package has no library product to depend on through
// `.package(path: "..")` (its only product is the `cbm-ingest` executable). If the root one day
// declares `.library(name: "CBMCore", targets: ["CBMCore"])`, this target and the link can give way
// to `.package(path: "..")` and `.product(name: "CBMCore", package: <the root folder's name>)`.
let package = Package(
    name: "cbm-ingest-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Only the malloc interposer: the default RuntimeInterposer trait would need
        // ordo-one/swift-runtime-interposer, which is not available here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // CBMCore reads Sparkplug B payloads with it.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The root package's CBMCore, with the root package's settings.
        .target(name: "CBMCore", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
                swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib"),
        // (Without the SQLite history archive and the index of final figures: no benchmark here
        // reaches them, and GRDB is the root package's to build.)
        .target(name: "CBMStorage", dependencies: ["CBMCore", "CZlib"], exclude: ["SQLiteArchive.swift", "TotalsIndex.swift"],
                swiftSettings: [.enableUpcomingFeature("ExistentialAny")]),
        // The benchmark plugin finds benchmark targets in Benchmarks/<Name>/.
        .executableTarget(
            name: "DecodeBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "CBMCore",
                "CBMStorage",
            ],
            path: "Benchmarks/DecodeBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "AggregateBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "CBMCore",
            ],
            path: "Benchmarks/AggregateBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "OutputBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                "CBMCore", "CBMStorage",
            ],
            path: "Benchmarks/OutputBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
