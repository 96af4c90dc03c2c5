/// The one error type of the local sandboxes: a local process could not be started.
public enum LocalExecError: Error, Sendable, CustomStringConvertible {
    case pipeFailed(errno: Int32)
    case spawnFailed(code: Int32)

    public var description: String {
        switch self {
        case .pipeFailed(let errno): "pipe() failed with errno \(errno)"
        case .spawnFailed(let code): "posix_spawn failed with error \(code)"
        }
    }
}
