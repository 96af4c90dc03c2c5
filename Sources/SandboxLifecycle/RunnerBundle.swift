import Foundation

/// The runner files (`runner/` in the repository is the source of truth) packed
/// into one uncompressed ustar archive, built once at start-up. Every launch
/// uploads it with a single raw-body write and the launch exec unpacks it into the
/// runner directory (rule 24), so a sandbox always runs the current version.
public struct RunnerBundle: Sendable {
    /// The files the bundle must contain, in archive order.
    public static let requiredFiles = ["runner.py", "launch.sh", "probe.sh", "stop.sh", "requirements.txt"]

    public let entries: [TarArchive.Entry]
    /// The archive bytes that get uploaded.
    public let archive: Data

    public init(entries: [TarArchive.Entry], modificationTime: Int = Int(Date().timeIntervalSince1970)) throws(SandboxLifecycleError) {
        var seen = Set<String>()
        for entry in entries where !seen.insert(entry.name).inserted {
            throw .invalidBundle("duplicate file \(entry.name)")
        }
        self.entries = entries
        self.archive = Data(try TarArchive.archive(entries, modificationTime: modificationTime))
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
