// swift-tools-version: 6.2
import PackageDescription

// Layers: an arrow means "may import".
//   CMosquitto ← CBMMQTT ──────┐
//   CBMCore, CZlib, GRDB ← CBMStorage ┼─ CBMIngest ← cbm-ingest
//   CBMCore ────────────────────┘
let package = Package(
    name: "cbm-ingest",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cbm-ingest", targets: ["cbm-ingest"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // HMAC-SHA256 for signed alarm commands.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // SQLite, for the history archive (late data older than the in-memory span).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Sparkplug B payloads (protobuf).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // The daemon's HTTP server (metrics, health, the status page), its lifecycle, and the
        // Prometheus text format.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libmosquitto through pkg-config; the only C in the project.
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        // zlib, for gzip-compressing closed output files.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The domain: readings, units, assets, topic templates, payload decoders, records.
        // Foundation, and SwiftProtobuf for Sparkplug B payloads: no I/O, no clock, no Dispatch,
        // no MQTT. (Protos/sparkplug_b.proto; scripts/generate-sparkplug.sh regenerates the Swift.)
        .target(name: "CBMCore", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Files: record writers (later: rotation, journal, checkpoints).
        .target(name: "CBMStorage", dependencies: ["CBMCore", "CZlib", .product(name: "GRDB", package: "GRDB.swift"),
                                                  .product(name: "GRDBSQLite", package: "GRDB.swift")]),
        // A small Swift API over libmosquitto; the only code that calls it.
        .target(name: "CBMMQTT", dependencies: ["CMosquitto"]),
        // Configuration, the Dispatch pipeline, the live ingester.
        .target(
            name: "CBMIngest",
            dependencies: [
                "CBMCore", "CBMStorage", "CBMMQTT",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "cbm-ingest",
            dependencies: [
                "CBMCore", "CBMIngest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What the fuzzers drive (scripts/fuzz.sh builds them with libFuzzer; the tests run the
        // inputs they found).
        .target(name: "CBMFuzz", dependencies: ["CBMCore", "CBMStorage"]),
        // Real components for tests: a private mosquitto broker, child processes, temporary folders.
        .target(name: "CBMTestSupport", dependencies: ["CBMMQTT", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CBMCoreTests", dependencies: ["CBMCore"]),
        .testTarget(name: "CBMStorageTests", dependencies: ["CBMCore", "CBMStorage", "CBMTestSupport", "CBMFuzz"]),
        .testTarget(name: "CBMIngestTests", dependencies: ["CBMCore", "CBMIngest", "CBMMQTT", "CBMTestSupport"]),
        .testTarget(
            name: "CBMIntegrationTests",
            dependencies: ["CBMCore", "CBMIngest", "CBMMQTT", "CBMStorage", "CBMTestSupport",
                           .product(name: "Crypto", package: "swift-crypto")]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
