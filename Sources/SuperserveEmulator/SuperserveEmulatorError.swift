/// The one error type of the Superserve emulator's code: invalid input, which becomes
/// a 400 with `description` as the message. (A local process that cannot start is the
/// local sandboxes' `LocalExecError`.)
struct SuperserveEmulatorError: Error, Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }

    init(stringLiteral value: String) { self.init(value) }
}
