import Foundation

/// A minimal writer for uncompressed POSIX ustar archives (POSIX.1-1988 / pax
/// "ustar" format): regular files only, names up to 100 bytes, no prefix field.
/// The runner bundle is a handful of small text files, so this is all `tar -xf`
/// in the sandbox needs (rule 24: one raw-body upload, unpacked by the launch exec).
public enum TarArchive {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var mode: Int
        public var contents: [UInt8]
        public init(name: String, mode: Int, contents: [UInt8]) {
            self.name = name
            self.mode = mode
            self.contents = contents
        }
    }

    static let blockSize = 512

    /// The archive bytes: per entry a 512-byte header and the contents padded to a
    /// block, then two zero blocks as the end-of-archive marker.
    public static func archive(_ entries: [Entry], modificationTime: Int = 0) throws(SandboxLifecycleError) -> [UInt8] {
        var out: [UInt8] = []
        for entry in entries {
            out += try header(for: entry, modificationTime: modificationTime)
            out += entry.contents
            let remainder = entry.contents.count % blockSize
            if remainder != 0 { out += [UInt8](repeating: 0, count: blockSize - remainder) }
        }
        out += [UInt8](repeating: 0, count: 2 * blockSize)
        return out
    }

    static func header(for entry: Entry, modificationTime: Int) throws(SandboxLifecycleError) -> [UInt8] {
        let name = Array(entry.name.utf8)
        guard !name.isEmpty, name.count <= 100, !name.contains(0), !entry.name.hasPrefix("/"),
              !entry.name.split(separator: "/").contains("..") else {
            throw .invalidBundle("file name \(entry.name) does not fit a ustar header")
        }
        guard entry.contents.count < 0o77777777777 else { throw .invalidBundle("file \(entry.name) is too large") }
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (i, byte) in bytes.enumerated() { block[offset + i] = byte }
        }
        // Numeric fields: zero-padded octal followed by NUL, filling the field.
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)                                       // name[100]
        put(octal(entry.mode & 0o7777, width: 8), at: 100)     // mode[8]
        put(octal(0, width: 8), at: 108)                        // uid[8]
        put(octal(0, width: 8), at: 116)                        // gid[8]
        put(octal(entry.contents.count, width: 12), at: 124)    // size[12]
        put(octal(modificationTime, width: 12), at: 136)        // mtime[12]
        put(Array("        ".utf8), at: 148)                    // chksum[8]: spaces while summing
        block[156] = UInt8(ascii: "0")                          // typeflag: regular file
        put(Array("ustar".utf8) + [0], at: 257)                 // magic[6]
        put(Array("00".utf8), at: 263)                          // version[2]
        put(Array("root".utf8), at: 265)                        // uname[32]
        put(Array("root".utf8), at: 297)                        // gname[32]
        // Checksum: unsigned sum of the header bytes, six octal digits, NUL, space.
        let sum = block.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148)
        return block
    }
}
