// swift-tools-version:6.2
import PackageDescription
import Glibc

// Dependencies point downward only (see README "Layout"; Tests/ArchitectureTests checks the imports):
// cma-orchestrator → {EmulatedMode, Orchestrator}; EmulatedMode → {Orchestrator, AnthropicEmulator, SuperserveEmulator}
// Orchestrator → {SandboxLifecycle, WorkQueue, Webhooks, HTTPServer, JSON}, never an emulator target;
// AnthropicEmulator → {Faults, Webhooks, APIClient, HTTPServer, JSON}; SuperserveEmulator → {Faults, LocalSandboxes, HTTPServer, JSON};
// Faults → {HTTPServer, JSON}; WorkQueue, SandboxLifecycle → APIClient; HTTPServer → {HTTPWire, CZlib, CEpoll};
// Webhooks → {COpenSSL, JSON}. HTTPWire and JSON import the standard library only.
// The server runs on epoll (CEpoll): Linux only.
let package = Package(
    name: "cma-orchestrator",
    products: [
        .executable(name: "cma-orchestrator", targets: ["cma-orchestrator"]),
        .library(name: "HTTPWire", targets: ["HTTPWire"]),
    ],
    dependencies: [
        // Exact versions, so that every build (the image's included) resolves the same
        // graph without a committed Package.resolved. The last two only come in through
        // swift-service-lifecycle and are pinned for the same reason; swift-prometheus'
        // swift-atomics (1.3.0) is not, since SwiftPM warns on every build about a pinned
        // package no target of ours uses: the Dockerfile checks its version instead.
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", exact: "1.1.4"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        // The configuration file (`serve --config`): YAML through libyaml, with node
        // positions for errors that name the line (README "Configuration file").
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CEpoll"),

        .target(name: "HTTPWire"),
        .target(name: "JSON"),
        .target(name: "HTTPServer", dependencies: [
            "HTTPWire", "CZlib", "CEpoll",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Webhooks", dependencies: ["COpenSSL", "JSON"]),
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
        .target(name: "Orchestrator", dependencies: [
            "HTTPServer", "JSON", "Webhooks", "APIClient", "WorkQueue", "SandboxLifecycle",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // Development and test tools: loopback emulators of both APIs, local process
        // sandboxes, and `serve --emulated` / `emulate` / `demo`. Only the executable
        // and the tests link them; the Orchestrator library never does.
        .target(name: "Faults", dependencies: ["HTTPServer", "JSON"]),
        .target(name: "LocalSandboxes"),
        .target(name: "AnthropicEmulator", dependencies: [
            "HTTPServer", "JSON", "Webhooks", "APIClient", "Faults",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SuperserveEmulator", dependencies: [
            "HTTPServer", "JSON", "Faults", "LocalSandboxes",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "EmulatedMode", dependencies: [
            "Orchestrator", "AnthropicEmulator", "SuperserveEmulator", "LocalSandboxes", "HTTPServer", "APIClient", "JSON",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .executableTarget(name: "cma-orchestrator", dependencies: [
            "Orchestrator", "EmulatedMode",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: releaseLinkerSettings),

        // Shared by the test targets: raw loopback clients, the in-process router transport,
        // process helpers, the SDK venv.
        .target(name: "TestSupport", dependencies: [
            "HTTPWire", "HTTPServer", "APIClient", "LocalSandboxes", .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/TestSupport"),

        .testTarget(name: "HTTPWireTests", dependencies: ["HTTPWire"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks", "TestSupport"]),
        .testTarget(name: "APIClientTests", dependencies: ["APIClient", "TestSupport"]),
        .testTarget(name: "WorkQueueTests", dependencies: ["WorkQueue", "AnthropicEmulator", "TestSupport"]),
        .testTarget(name: "SandboxLifecycleTests", dependencies: [
            "SandboxLifecycle", "AnthropicEmulator", "SuperserveEmulator", "TestSupport",
        ]),
        .testTarget(name: "FaultsTests", dependencies: ["Faults", "JSON"]),
        .testTarget(name: "AnthropicEmulatorTests", dependencies: ["AnthropicEmulator", "JSON", "TestSupport"]),
        .testTarget(name: "SuperserveEmulatorTests", dependencies: [
            "SuperserveEmulator", "LocalSandboxes", "JSON", "TestSupport",
        ]),
        .testTarget(name: "OrchestratorTests", dependencies: [
            "Orchestrator", "EmulatedMode", "TestSupport", "HTTPServer", "HTTPWire", "JSON", "Webhooks", "APIClient",
            "WorkQueue", "SandboxLifecycle", "AnthropicEmulator", "SuperserveEmulator",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Reads Sources/*/*.swift and Package.swift as text: the import graph of the layout,
        // and the metadata keys of every log call.
        .testTarget(name: "ArchitectureTests"),
        // The deploy files checked with the real tools (nginx, kubectl, systemd-analyze,
        // promtool) against the built binary.
        .testTarget(name: "DeployTests", dependencies: ["TestSupport", "Webhooks", "AnthropicEmulator", "LocalSandboxes"]),
    ]
)

/// Release links of the executable on Linux use lld with packed relative relocations
/// (DT_RELR): the position-independent binary's 87,000 relative relocations take 16 KiB
/// instead of 2 MiB, which every start reads and then keeps resident. The binary exports
/// no dynamic symbols, since nothing loads it as a library or looks its symbols up; that
/// keeps the dynamic loader's lookups for the shared libraries off a 750 KiB symbol
/// table. glibc applies DT_RELR from 2.36 on, so older systems keep the default link.
/// Plain linker flags only: nothing here needs a recorded file kept in step with the code.
var releaseLinkerSettings: [LinkerSetting] {
    var buffer = [CChar](repeating: 0, count: 64)  // "glibc 2.36"
    guard confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count) > 0 else { return [] }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let version = text.split(separator: " ").last?.split(separator: ".").compactMap { Int($0) } ?? []
    guard version.count >= 2, (version[0], version[1]) >= (2, 36) else { return [] }
    let flags = [
        "-use-ld=lld",
        "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
        "-Xlinker", "--no-export-dynamic",
    ]
    return [.unsafeFlags(flags, .when(platforms: [.linux], configuration: .release))]
}
