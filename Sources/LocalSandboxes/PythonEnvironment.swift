import Foundation

/// A Python virtual environment the project creates on first use (under `.build/`
/// by default), so that the offline demo and the contract tests need nothing
/// installed by hand. Creation is serialised with a lock file: several processes
/// (parallel tests, a demo) may ask for the same environment at once.
public struct PythonEnvironment: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case pythonMissing
        case commandFailed(command: String, status: Int32, output: String)

        public var description: String {
            switch self {
            case .pythonMissing:
                "python3 was not found on PATH; install python3 with the venv module (Debian: apt-get install python3 python3-venv)"
            case .commandFailed(let command, let status, let output):
                "`\(command)` exited with \(status): \(output.suffix(2000))"
            }
        }
    }

    /// The venv directory.
    public let directory: URL
    /// pip requirement specifiers, e.g. `anthropic==2.10.0`.
    public let requirements: [String]

    public init(directory: URL, requirements: [String]) {
        self.directory = directory
        self.requirements = requirements.sorted()
    }

    public var python: URL { directory.appendingPathComponent("bin/python3") }
    public var binDirectory: URL { directory.appendingPathComponent("bin") }

    /// Creates the environment if it does not hold exactly `requirements` yet, and
    /// returns the path of its interpreter.
    @discardableResult
    public func ensure() throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
        let stamp = directory.appendingPathComponent(".cma-requirements")
        let wanted = requirements.joined(separator: "\n")
        if (try? String(contentsOf: stamp, encoding: .utf8)) == wanted, fm.isExecutableFile(atPath: python.path) {
            return python
        }
        let lockPath = directory.path + ".lock"
        let fd = open(lockPath, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw Failure.commandFailed(command: "open \(lockPath)", status: errno, output: "") }
        defer { close(fd) }
        flock(fd, LOCK_EX)
        defer { flock(fd, LOCK_UN) }
        if (try? String(contentsOf: stamp, encoding: .utf8)) == wanted, fm.isExecutableFile(atPath: python.path) {
            return python
        }
        guard let system = Self.findOnPath("python3") else { throw Failure.pythonMissing }
        try? fm.removeItem(at: directory)
        try Self.run(system, ["-m", "venv", directory.path])
        try Self.run(python.path, ["-m", "pip", "install", "--disable-pip-version-check", "--quiet"] + requirements)
        try wanted.write(to: stamp, atomically: true, encoding: .utf8)
        return python
    }

    static func findOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure.commandFailed(command: ([executable] + arguments).joined(separator: " "),
                                        status: process.terminationStatus,
                                        output: String(decoding: output, as: UTF8.self))
        }
    }
}
