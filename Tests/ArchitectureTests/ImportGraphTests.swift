import Foundation
import XCTest

/// The module layout (README "Layout", ../shared/style.md) as data, checked against the
/// `import` lines of every source file and against Package.swift: dependencies point
/// downward only, and the product library never reaches the emulators or the local
/// sandboxes that run `/bin/sh -c`.
final class ImportGraphTests: XCTestCase {
    /// Two folders above this file's folder.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every module under Sources, bottom-up, with the project modules it may import.
    /// A row may only name modules above it in this list, so the table itself cannot
    /// allow an arrow that points up. A new module needs a row.
    static let layout: [(module: String, mayImport: Set<String>)] = [
        ("COpenSSL", []), ("CZlib", []), ("CEpoll", []),
        ("HTTPWire", []),
        ("JSON", []),
        ("HTTPServer", ["HTTPWire", "CZlib", "CEpoll"]),
        ("Webhooks", ["COpenSSL", "JSON"]),
        ("APIClient", []),
        ("WorkQueue", ["APIClient"]),
        ("SandboxLifecycle", ["APIClient"]),
        ("Orchestrator", ["HTTPWire", "JSON", "HTTPServer", "Webhooks", "APIClient", "WorkQueue", "SandboxLifecycle"]),
        // Development and test tools from here on.
        ("Faults", ["HTTPWire", "HTTPServer", "JSON"]),
        ("LocalSandboxes", []),
        ("AnthropicEmulator", ["HTTPWire", "HTTPServer", "JSON", "Webhooks", "APIClient", "Faults"]),
        ("SuperserveEmulator", ["HTTPWire", "HTTPServer", "JSON", "Faults", "LocalSandboxes"]),
        ("EmulatedMode", ["HTTPWire", "HTTPServer", "JSON", "APIClient", "Orchestrator", "LocalSandboxes",
                          "AnthropicEmulator", "SuperserveEmulator"]),
        ("cma-orchestrator", ["Orchestrator", "EmulatedMode"]),
    ]

    /// What the `Orchestrator` library is made of.
    static let productModules: Set<String> = [
        "HTTPWire", "JSON", "HTTPServer", "Webhooks", "APIClient", "WorkQueue", "SandboxLifecycle", "Orchestrator",
    ]
    /// Emulators and what only they need; never imported by a product module.
    static let emulatorModules: Set<String> = [
        "Faults", "LocalSandboxes", "AnthropicEmulator", "SuperserveEmulator", "EmulatedMode",
    ]
    /// Modules that use the standard library only, and what that allows them.
    static let standardLibraryOnly: Set<String> = ["HTTPWire", "JSON"]
    static let standardLibrary: Set<String> = ["Swift", "_Concurrency", "Synchronization"]

    func testEveryModuleUnderSourcesHasARowInTheLayout() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.packageRoot.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") }
        XCTAssertEqual(Set(folders), Set(Self.layout.map(\.module)),
                       "a module under Sources needs a row in ImportGraphTests.layout saying what it may import")
    }

    func testTheLayoutOnlyPointsDownAndKeepsTheProductApartFromTheEmulators() {
        var below: Set<String> = []
        for row in Self.layout {
            XCTAssertTrue(row.mayImport.isSubset(of: below), "\(row.module) may only import modules below it: \(row.mayImport.subtracting(below))")
            if Self.productModules.contains(row.module) {
                XCTAssertTrue(row.mayImport.isDisjoint(with: Self.emulatorModules), "\(row.module) is part of the product")
            }
            below.insert(row.module)
        }
        XCTAssertTrue(Self.productModules.union(Self.emulatorModules).isSubset(of: below))
    }

    func testEverySourceFileImportsOnlyWhatItsModuleMay() throws {
        let known = Set(Self.layout.map(\.module))
        var violations: [String] = []
        for (module, mayImport) in Self.layout {
            for (file, imports) in try Self.imports(of: module) {
                for name in imports {
                    if Self.standardLibraryOnly.contains(module), !Self.standardLibrary.contains(name) {
                        violations.append("\(file) imports \(name), but \(module) uses the standard library only")
                    } else if known.contains(name), name != module, !mayImport.contains(name) {
                        violations.append("\(file) imports \(name), which \(module) may not import")
                    }
                }
            }
        }
        XCTAssertEqual(violations, [], violations.joined(separator: "\n"))
    }

    /// The check style.md cares most about, spelled out on its own.
    func testNoProductModuleImportsAnEmulatorOrTheLocalSandboxes() throws {
        for module in Self.productModules.sorted() {
            for (file, imports) in try Self.imports(of: module) {
                let reached = imports.intersection(Self.emulatorModules)
                XCTAssertTrue(reached.isEmpty, "\(file) imports \(reached.sorted()); the product never links the emulators")
            }
        }
    }

    func testPackageManifestGivesNoProductTargetAnEmulatorDependency() throws {
        let manifest = try String(contentsOf: Self.packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        for module in Self.productModules.sorted() {
            let dependencies = try XCTUnwrap(Self.dependencyText(of: module, in: manifest), "no .target(name: \"\(module)\" in Package.swift")
            for emulator in Self.emulatorModules.sorted() {
                XCTAssertFalse(dependencies.contains("\"\(emulator)\""), "Package.swift: \(module) depends on \(emulator)")
            }
        }
    }

    /// The reader itself: attributes, access levels and declaration kinds are skipped,
    /// comments and other lines are not imports.
    func testImportLinesAreReadWithAttributesAccessLevelsAndKinds() {
        let table: [(String, String?)] = [
            ("import Foundation", "Foundation"),
            ("@testable import Orchestrator", "Orchestrator"),
            ("  @preconcurrency public import Glibc // why", "Glibc"),
            ("internal import struct HTTPServer.Router", "HTTPServer"),
            ("@_implementationOnly import SuperserveEmulator", "SuperserveEmulator"),
            ("// import SuperserveEmulator", nil),
            ("#if canImport(Glibc)", nil),
            ("let important = 1", nil),
        ]
        for (line, module) in table {
            XCTAssertEqual(Self.importedModule(line), module, line)
        }
    }

    // MARK: reading

    /// `Sources/<module>/…/*.swift` relative path → modules it imports.
    static func imports(of module: String) throws -> [(String, Set<String>)] {
        let folder = packageRoot.appendingPathComponent("Sources").appendingPathComponent(module)
        guard let walk = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        var result: [(String, Set<String>)] = []
        for case let path as String in walk where path.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(path), encoding: .utf8)
            let names = Set(text.split(whereSeparator: \.isNewline).compactMap { importedModule(String($0)) })
            result.append(("Sources/\(module)/\(path)", names))
        }
        return result.sorted { $0.0 < $1.0 }
    }

    static let modifiers: Set<String> = ["public", "package", "internal", "fileprivate", "private"]
    static let kinds: Set<String> = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]

    /// The module an `import` line names, nil for any other line.
    static func importedModule(_ line: String) -> String? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)[...]
        while let first = words.first, first.hasPrefix("@") || modifiers.contains(first) { words = words.dropFirst() }
        guard words.first == "import" else { return nil }
        words = words.dropFirst()
        if let first = words.first, kinds.contains(first) { words = words.dropFirst() }
        guard let path = words.first, let name = path.split(separator: ".").first else { return nil }
        return String(name)
    }

    /// The text of `dependencies: [ … ]` of `.target(name: "<module>"` (empty when it
    /// has none), nil when the manifest declares no such target.
    static func dependencyText(of module: String, in manifest: String) -> String? {
        for declaration in [".target(name: \"\(module)\"", ".executableTarget(name: \"\(module)\""] {
            guard let start = manifest.range(of: declaration) else { continue }
            let rest = manifest[start.upperBound...]
            let end = rest.range(of: "\n        .")?.lowerBound ?? rest.endIndex
            let target = rest[..<end]
            guard let open = target.range(of: "dependencies: [") else { return "" }
            var depth = 1
            var index = open.upperBound
            while index < target.endIndex, depth > 0 {
                if target[index] == "[" { depth += 1 } else if target[index] == "]" { depth -= 1 }
                index = target.index(after: index)
            }
            return String(target[open.upperBound..<index])
        }
        return nil
    }
}
