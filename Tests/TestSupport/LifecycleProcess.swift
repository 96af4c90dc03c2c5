import Foundation

/// Runs a process to completion with a deadline and returns its combined output
/// (lifecycle tests: tar, the runner's Python script tests; deploy tests: nginx,
/// promtool, kubectl), its standard input read from `input` or empty.
public enum LifecycleProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
    }

    public static func run(_ executable: String, _ arguments: [String], directory: URL? = nil,
                           environment: [String: String]? = nil, input: URL? = nil,
                           timeout: TimeInterval = 60) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = try input.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
