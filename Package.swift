// swift-tools-version:6.2
import PackageDescription

// Dependencies point downward only (see README "Layout"):
// cma-orchestrator → Orchestrator → {Emulators, SandboxLifecycle, WorkQueue, Webhooks, HTTPServer}
// Emulators → {HTTPServer, Webhooks, APIClient}; WorkQueue, SandboxLifecycle → APIClient;
// HTTPServer → {HTTPWire, CZlib}; Webhooks → COpenSSL. HTTPWire imports the standard library only.
let package = Package(
    name: "cma-orchestrator",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cma-orchestrator", targets: ["cma-orchestrator"]),
        .library(name: "HTTPWire", targets: ["HTTPWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CEpoll"),

        .target(name: "HTTPWire"),
        .target(name: "HTTPServer", dependencies: [
            "HTTPWire", "CZlib", "CEpoll",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Webhooks", dependencies: ["COpenSSL"]),
        .target(name: "APIClient", dependencies: [
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "WorkQueue", dependencies: [
            "APIClient",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SandboxLifecycle", dependencies: [
            "APIClient",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Emulators", dependencies: [
            "HTTPServer", "Webhooks", "APIClient",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Orchestrator", dependencies: [
            "HTTPServer", "Webhooks", "APIClient", "WorkQueue", "SandboxLifecycle", "Emulators",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "cma-orchestrator", dependencies: [
            "Orchestrator",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Shared by the test targets: raw loopback clients, process helpers, the SDK venv.
        .target(name: "TestSupport", dependencies: [
            "HTTPWire", "Emulators", .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/TestSupport"),

        .testTarget(name: "HTTPWireTests", dependencies: ["HTTPWire"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks", "TestSupport"]),
        .testTarget(name: "APIClientTests", dependencies: ["APIClient", "TestSupport"]),
        .testTarget(name: "WorkQueueTests", dependencies: ["WorkQueue", "TestSupport"]),
        .testTarget(name: "SandboxLifecycleTests", dependencies: ["SandboxLifecycle", "TestSupport"]),
        .testTarget(name: "EmulatorsTests", dependencies: ["Emulators", "TestSupport"]),
        .testTarget(name: "OrchestratorTests", dependencies: [
            "Orchestrator", "TestSupport", "HTTPServer", "HTTPWire", "Webhooks", "APIClient", "WorkQueue",
            "SandboxLifecycle", "Emulators",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
