import Foundation

/// `--env-file FILE`: a `.env` as the upstream guide's scripts load it. `NAME=value`
/// lines, an optional `export ` in front, `#` comments and blank lines; a value in
/// single quotes is taken as written, one in double quotes understands `\n`, `\"` and
/// `\\`; an unquoted value ends at ` #`. Variables already in the process environment
/// win over the file (as python-dotenv and Compose do), so an operator's export still
/// overrides a checked-in `.env`. Errors name the line and the variable, never a value.
public enum DotEnvFile {
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int?
        public let problem: String
        public var description: String { line.map { "\(file):\($0): \(problem)" } ?? "\(file): \(problem)" }
    }

    public static func load(path: String, workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws(Error) -> [String: String] {
        let url = URL(fileURLWithPath: path, relativeTo: workingDirectory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw Error(file: path, line: nil, problem: "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Error(file: path, line: nil, problem: "is not UTF-8 text") }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(Error) -> [String: String] {
        var values: [String: String] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            var line = Substring(raw.hasSuffix("\r") ? raw.dropLast() : raw)
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).drop(while: { $0 == " " }) }
            guard let equals = line.firstIndex(of: "=") else {
                throw Error(file: path, line: number, problem: "expected NAME=value")
            }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard RunnerVariableCheck.isName(name) else {
                throw Error(file: path, line: number, problem: "invalid variable name")
            }
            var rest = line[line.index(after: equals)...].drop(while: { $0 == " " || $0 == "\t" })
            let value: String
            if rest.hasPrefix("'") {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "'") else {
                    throw Error(file: path, line: number, problem: "\(name): unterminated single quote")
                }
                value = String(rest[..<close])
            } else if rest.hasPrefix("\"") {
                rest = rest.dropFirst()
                var out = ""
                var closed = false
                var iterator = rest.makeIterator()
                while let c = iterator.next() {
                    if c == "\"" { closed = true; break }
                    if c == "\\", let next = iterator.next() {
                        switch next {
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        default: out.append(next)
                        }
                    } else {
                        out.append(c)
                    }
                }
                guard closed else { throw Error(file: path, line: number, problem: "\(name): unterminated double quote") }
                value = out
            } else {
                var text = String(rest)
                if let comment = text.range(of: " #") { text = String(text[..<comment.lowerBound]) }
                value = text.trimmingCharacters(in: .whitespaces)
            }
            values[name] = value
        }
        return values
    }

    /// `process` over `file`: the process environment wins.
    public static func merged(process: [String: String], file: [String: String]) -> [String: String] {
        process.merging(file) { fromProcess, _ in fromProcess }
    }
}
