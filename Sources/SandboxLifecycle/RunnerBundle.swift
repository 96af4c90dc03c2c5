import Foundation

/// The runner files (`runner/` in the repository is the source of truth) packed
/// into one uncompressed ustar archive, built once at start-up, and its `version`
/// (a hash of the files). `setup-template` bakes the bundle and its version into the
/// template, so a launch in a sandbox made from a current template sends no file at
/// all; otherwise the bundle rides base64-encoded in the launch exec's own `env`
/// (`CMA_RUNNER_BUNDLE`), and the exec unpacks it when the sandbox's
/// `.bundle-version` differs (rule 24 as amended: no separate file write). A bundle
/// too large for one environment value falls back to the raw-body write.
public struct RunnerBundle: Sendable {
    /// The files the bundle must contain, in archive order.
    public static let requiredFiles = ["runner.py", "launch.sh", "probe.sh", "stop.sh", "requirements.txt"]

    public let entries: [TarArchive.Entry]
    /// The archive bytes that get uploaded.
    public let archive: Data
    /// The first 16 hex digits of the SHA-256 over every file's name, mode and
    /// contents (not the archive, whose mtimes differ per start): the same `runner/`
    /// gives the same version on every replica and every restart.
    public let version: String
    /// `archive` in base64, for the exec's environment.
    public let base64: String

    /// Linux refuses a single environment string above 128 KiB (MAX_ARG_STRLEN); a
    /// bundle whose base64 is larger goes by file write instead.
    public static let maxEnvironmentBytes = 96 * 1024

    /// Whether the bundle can ride in the exec's environment.
    public var fitsInEnvironment: Bool { base64.utf8.count <= Self.maxEnvironmentBytes }

    public init(entries: [TarArchive.Entry], modificationTime: Int = Int(Date().timeIntervalSince1970)) throws(SandboxLifecycleError) {
        var seen = Set<String>()
        for entry in entries where !seen.insert(entry.name).inserted {
            throw .invalidBundle("duplicate file \(entry.name)")
        }
        self.entries = entries
        self.archive = Data(try TarArchive.archive(entries, modificationTime: modificationTime))
        self.version = Self.version(of: entries)
        self.base64 = archive.base64EncodedString()
    }

    static func version(of entries: [TarArchive.Entry]) -> String {
        var bytes: [UInt8] = []
        for entry in entries.sorted(by: { $0.name < $1.name }) {
            bytes += Array("\(entry.name)\0\(entry.mode)\0\(entry.contents.count)\0".utf8)
            bytes += entry.contents
        }
        return String(SHA256.hex(bytes).prefix(16))
    }

    /// Reads the required files from `directory`; shell scripts get mode 0755,
    /// everything else 0644.
    public static func load(from directory: URL) throws(SandboxLifecycleError) -> RunnerBundle {
        var entries: [TarArchive.Entry] = []
        for name in requiredFiles {
            let url = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw .invalidBundle("cannot read \(url.path)")
            }
            entries.append(TarArchive.Entry(name: name, mode: mode(for: name), contents: [UInt8](data)))
        }
        return try RunnerBundle(entries: entries)
    }

    /// A copy with one more (or a replaced) file. Tests use it to ship a fake
    /// runner selected through `CMA_RUNNER_ENTRY`, launch.sh's test-only hook.
    public func adding(name: String, contents: Data) throws(SandboxLifecycleError) -> RunnerBundle {
        var copy = entries.filter { $0.name != name }
        copy.append(TarArchive.Entry(name: name, mode: Self.mode(for: name), contents: [UInt8](contents)))
        return try RunnerBundle(entries: copy)
    }

    static func mode(for name: String) -> Int {
        name.hasSuffix(".sh") ? 0o755 : 0o644
    }
}
