import Foundation

/// One emulated sandbox on the host: a directory and the processes tagged with its id.
///
/// **Path mapping.** Each sandbox owns `<sandboxesRoot>/<id>/` with the sandbox's
/// file system under `<sandboxesRoot>/<id>/fs/`. An absolute path under one of the
/// mapped roots (default `/srv`, `/workspace`, `/mnt`, `/home/user`) resolves inside
/// it: `/srv/cma/x` → `<sandboxesRoot>/<id>/fs/srv/cma/x`. The rule applies to
///
/// - data-plane file paths (`POST`/`GET /files?path=`); a path outside every mapped
///   root is refused with 400, so the file API never touches the host;
/// - exec `working_dir`;
/// - the exec `command` string and every exec `env` value: an occurrence of a mapped
///   root is rewritten when it stands at the start of the text or right after
///   whitespace, `=`, `:`, `'`, `"`, `(`, `;`, `|`, `&`, `>` or `<`, and ends the
///   text or is followed by a character that cannot continue a path component
///   (`/srvx` and `/home/username` stay as they are). Other absolute paths
///   (`/bin/sh`, `/usr/bin/env`, `/tmp`) are host paths.
///
/// `HOME` is the sandbox's `fs/home/user`. Processes are real host processes: the
/// mapping is a convenience for offline runs, not isolation.
public struct LocalSandbox: Sendable {
    public let id: String
    public let directory: URL
    public let mappedRoots: [String]

    public init(id: String, sandboxesRoot: URL, mappedRoots: [String]) {
        self.id = id
        self.directory = sandboxesRoot.appendingPathComponent(id, isDirectory: true)
        // Longest root first, so that a root nested in another wins.
        self.mappedRoots = mappedRoots.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
            .sorted { $0.utf8.count > $1.utf8.count }
    }

    /// `<sandboxesRoot>/<id>/fs`, the image of the sandbox's `/`.
    public var fsRoot: String { directory.path + "/fs" }
    public var home: String { fsRoot + "/home/user" }

    /// Creates the directory and one directory per mapped root (a fresh sandbox has
    /// them, as the template's `mkdir` step would).
    public func create() throws {
        for root in mappedRoots {
            try FileManager.default.createDirectory(atPath: fsRoot + root, withIntermediateDirectories: true)
        }
    }

    public func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The host path of an absolute sandbox path under a mapped root; nil otherwise.
    public func hostPath(forSandboxPath path: String) -> String? {
        for root in mappedRoots where path == root || path.hasPrefix(root + "/") {
            return fsRoot + path
        }
        return nil
    }

    /// Rewrites mapped roots inside a shell command or an environment value (rule in
    /// the type's documentation).
    public func rewrite(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let roots = mappedRoots.map { Array($0.utf8) }
        let fsPrefix = Array(fsRoot.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "/"), i == 0 || Self.precedesPath(bytes[i - 1]),
               let root = roots.first(where: { Self.matches($0, in: bytes, at: i) }) {
                out.append(contentsOf: fsPrefix)
                out.append(contentsOf: root)
                i += root.count
                continue
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let precedingBytes: Set<UInt8> = Set("=:'\"(;|&><".utf8)

    private static func precedesPath(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || precedingBytes.contains(b)
    }

    private static func matches(_ root: [UInt8], in bytes: [UInt8], at i: Int) -> Bool {
        guard i + root.count <= bytes.count, Array(bytes[i..<(i + root.count)]) == root else { return false }
        let end = i + root.count
        guard end < bytes.count else { return true }
        let next = bytes[end]
        // A character that continues the component (`/srvx`, `/home/user2`) means
        // this is another path.
        let continues = (next >= 0x30 && next <= 0x39) || (next >= 0x41 && next <= 0x5A)
            || (next >= 0x61 && next <= 0x7A) || next == UInt8(ascii: ".") || next == UInt8(ascii: "_")
            || next == UInt8(ascii: "-") || next >= 0x80
        return !continues
    }
}
