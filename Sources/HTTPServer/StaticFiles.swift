import FoundationEssentials
import HTTPWire
import Synchronization
import Glibc

/// Files under a root folder (`Public/`), mounted as
/// `router.add(.GET, "/", match: .prefix, staticFiles.handler)`.
///
/// Files are read once into a small cache keyed by real path and revalidated by
/// size+mtime (one `stat` per request). Strong `ETag` from size and mtime,
/// `If-None-Match` → 304 (RFC 9110 §13.1.2), `Cache-Control`, `index.html` for a
/// folder path ending in `/`. A gzip copy of compressible files is made once and kept.
/// Nothing outside the root is reachable: see `StaticFiles+Paths.swift`.
public struct StaticFiles: Sendable {
    private let store: StaticFileStore

    public init(root: URL, cacheControl: String = "public, max-age=60") {
        store = StaticFileStore(root: root.path, cacheControl: cacheControl)
    }

    public var handler: Handler {
        .sync { [store] request in store.serve(request) }
    }
}

final class StaticFileStore: Sendable {
    struct Entry: Sendable {
        let size: Int
        let mtime: Int64
        let etag: String
        let contentType: String
        let body: [UInt8]
        var gzipped: [UInt8]?
        var gzipChecked = false
    }

    /// Real path of the root (symlinks resolved); nil when it does not exist.
    let realRoot: String?
    let cacheControl: String
    private let cache = Mutex<(entries: [String: Entry], bytes: Int)>(([:], 0))

    /// Files larger than this are not served (the folder holds a status page's assets).
    static let maxFileBytes = 16 * 1024 * 1024
    /// Total cached bytes (identity + gzip copies); past it new files are read per request.
    static let maxCacheBytes = 32 * 1024 * 1024
    /// Smallest compressible file that gets a gzip copy.
    static let gzipMinimumBytes = 512

    init(root: String, cacheControl: String) {
        realRoot = StaticPaths.realPath(root)
        self.cacheControl = cacheControl
    }

    func serve(_ request: Request) -> Response {
        guard let root = realRoot,
              let relative = StaticPaths.relativePath(rawPath: request.head.path, mountedAt: request.routePattern),
              let file = StaticPaths.resolve(relative, under: root)
        else { return .text("not found\n", status: 404) }
        guard var entry = load(file.path, size: file.size, mtime: file.mtime) else { return .text("not found\n", status: 404) }

        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: entry.contentType)
        headers.add(name: "Cache-Control", value: cacheControl)
        let compressible = Gzip.isCompressible(contentType: entry.contentType) && entry.size >= Self.gzipMinimumBytes
        var body = entry.body
        var etag = entry.etag
        if compressible {
            headers.add(name: "Vary", value: "Accept-Encoding")
            if Gzip.accepts(request.headers) {
                if !entry.gzipChecked { entry = storeGzip(file.path, entry) }
                if let z = entry.gzipped {
                    body = z
                    // A different representation needs a different strong validator (RFC 9110 §8.8.3).
                    etag = String(entry.etag.dropLast()) + "-gz\""
                    headers.add(name: "Content-Encoding", value: "gzip")
                }
            }
        }
        headers.add(name: "ETag", value: etag)
        if let inm = request.headers[first: "If-None-Match"], Self.matches(inm, etag) {
            var h = HTTPHeaders()
            for f in headers where !f.name.asciiCaseInsensitiveEquals("Content-Type")
                && !f.name.asciiCaseInsensitiveEquals("Content-Encoding") { h.add(name: f.name, value: f.value) }
            return Response(status: 304, headers: h, body: .bytes([]))
        }
        return Response(status: 200, headers: headers, body: .bytes(body))
    }

    /// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` is ignored.
    static func matches(_ header: String, _ etag: String) -> Bool {
        for item in header.split(separator: ",") {
            var t = item.trimmingOWS()
            if t == "*" { return true }
            if t.hasPrefix("W/") { t = t.dropFirst(2) }
            if t == etag { return true }
        }
        return false
    }

    private func load(_ path: String, size: Int, mtime: Int64) -> Entry? {
        if let e = cache.withLock({ $0.entries[path] }), e.size == size, e.mtime == mtime { return e }
        guard size <= Self.maxFileBytes, let bytes = StaticPaths.readFile(path, expected: size) else { return nil }
        let ext = path.split(separator: "/").last.flatMap { name -> Substring? in
            guard let dot = name.lastIndex(of: ".") else { return nil }
            return name[name.index(after: dot)...]
        } ?? ""
        let entry = Entry(size: bytes.count, mtime: mtime,
                          etag: "\"\(String(bytes.count, radix: 16))-\(String(UInt64(bitPattern: mtime), radix: 16))\"",
                          contentType: MediaTypes.forExtension(ext), body: bytes)
        cache.withLock { c in
            if let old = c.entries[path] { c.bytes -= old.body.count + (old.gzipped?.count ?? 0) }
            if c.bytes + bytes.count <= Self.maxCacheBytes {
                c.entries[path] = entry
                c.bytes += bytes.count
            } else {
                c.entries[path] = nil
            }
        }
        return entry
    }

    private func storeGzip(_ path: String, _ entry: Entry) -> Entry {
        var e = entry
        e.gzipped = Gzip.compress(entry.body, level: 9)
        e.gzipChecked = true
        cache.withLock { c in
            guard let cur = c.entries[path], cur.mtime == e.mtime, cur.size == e.size, !cur.gzipChecked else { return }
            let extra = e.gzipped?.count ?? 0
            if c.bytes + extra <= Self.maxCacheBytes {
                c.entries[path] = e
                c.bytes += extra
            }
        }
        return e
    }
}
