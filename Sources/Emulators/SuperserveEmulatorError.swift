/// The one error type of the Superserve emulator's code: invalid input (becomes a
/// 400 with `description` as the message) or a failure to start a local process.
struct SuperserveEmulatorError: Error, Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Kind: Sendable { case invalidInput, pipeFailed, spawnFailed }

    let kind: Kind
    let description: String

    init(_ description: String, kind: Kind = .invalidInput) {
        self.kind = kind
        self.description = description
    }

    init(stringLiteral value: String) { self.init(value) }

    static func pipeFailed(_ errno: Int32) -> Self { .init("pipe() failed with errno \(errno)", kind: .pipeFailed) }
    static func spawnFailed(_ code: Int32) -> Self { .init("posix_spawn failed with error \(code)", kind: .spawnFailed) }
}
