// swift-tools-version:6.2
import Foundation
import PackageDescription

// A separate package so the sanitizer/fuzzer flags never touch the product build.
// The root package is a path dependency; SwiftPM names a path dependency after its
// directory, which differs between worktrees (`wire`, `main`, a CI checkout), so the
// identity is computed from where this manifest lives.
let rootIdentity = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "HTTPWireFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        // libFuzzer entry point: build with -sanitize=fuzzer (see run.sh), which supplies main.
        .executableTarget(
            name: "HTTPWireFuzz",
            dependencies: [.product(name: "HTTPWire", package: rootIdentity)],
            swiftSettings: [.unsafeFlags(["-parse-as-library"]), .enableExperimentalFeature("Extern")]
        ),
        // Judges the parser against the llhttp vectors (plain build, no sanitizers).
        .executableTarget(
            name: "VectorJudge",
            dependencies: [.product(name: "HTTPWire", package: rootIdentity)]
        ),
    ]
)
