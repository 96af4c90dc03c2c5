import Glibc
import HTTPWire

/// Mapping a request path to a file under the root, refusing every way out:
/// encoded slashes and backslashes (`%2f`, `%5c`), malformed escapes, NUL, `..` and `.`
/// segments after percent-decoding, hidden names (`.git`, `.env`), and symlinks whose
/// real path leaves the real root.
enum StaticPaths {
    struct File { let path: String; let size: Int; let mtime: Int64 }

    /// The path below the mount point, percent-decoded and checked; nil when refused.
    /// A path ending in `/` (or empty) names the folder's `index.html`.
    static func relativePath(rawPath: Substring, mountedAt pattern: String) -> String? {
        var raw = rawPath
        if pattern != "/" && !pattern.isEmpty {
            guard raw.hasPrefix(pattern) else { return nil }
            raw = raw.dropFirst(pattern.count)
        }
        guard raw.isEmpty || raw.first == "/" else { return nil }
        // Encoded separators would let one segment name a deeper path.
        let lower = raw.lowercased()
        if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") { return nil }
        guard let decoded = PercentDecoding.decode(raw, plusAsSpace: false) else { return nil }
        if decoded.utf8.contains(0) || decoded.utf8.contains(UInt8(ascii: "\\")) { return nil }
        var segments: [Substring] = []
        for seg in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            // `..` and `.` (and any hidden name) never reach the file system.
            if seg.hasPrefix(".") { return nil }
            segments.append(seg)
        }
        if decoded.isEmpty || decoded.hasSuffix("/") { segments.append("index.html") }
        return segments.joined(separator: "/")
    }

    /// The regular file for `relative` under `root` (a real path), after resolving
    /// symlinks; nil when missing, not a regular file, or outside the root.
    static func resolve(_ relative: String, under root: String) -> File? {
        let candidate = root + "/" + relative
        guard let real = realPath(candidate), real.hasPrefix(root + "/") else { return nil }
        var st = stat()
        guard stat(real, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        return File(path: real, size: Int(st.st_size), mtime: mtime)
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Whole file, or nil on error or when its size changed under us.
    static func readFile(_ path: String, expected: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: expected)
        var off = 0
        while off < expected {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + off, expected - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            off += n
        }
        return out
    }
}
