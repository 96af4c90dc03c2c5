import Synchronization

/// Where the current runner bundle (`RunnerBundle.version`) is known to be already,
/// so that a launch carries the bundle in its exec only when it must (rule 24 as
/// amended). Learned from launches, never assumed:
///
/// - the template: a launch into a sandbox just created from it reports whether the
///   exec found the current version already there (baked by `setup-template`) or had
///   to unpack the bundle it carried (an older template, or one built elsewhere);
/// - each sandbox a launch succeeded in holds the current version from then on.
///
/// A wrong belief costs one call, never a wrong runner: an exec sent without the
/// bundle into a sandbox whose version differs exits `versionMismatchExitCode`
/// without touching anything, and the launch repeats it with the bundle.
public final class RunnerVersions: Sendable {
    public enum Template: String, Sendable {
        /// No launch into a fresh sandbox has reported yet.
        case unknown
        /// Sandboxes made from the template hold the current bundle.
        case current
        /// They hold another version (or none): launches carry the bundle.
        case older
    }

    /// What the launch command exits with when it was sent without the bundle and the
    /// sandbox's version differs (EX_TEMPFAIL: nothing was changed, repeat with it).
    public static let versionMismatchExitCode = 75

    public let current: String
    private let capacity: Int
    private struct State {
        var template = Template.unknown
        var sandboxes = Set<String>()
        var order: [String] = []
        var head = 0
    }
    private let state = Mutex(State())

    /// `capacity`: sandboxes remembered at most; the oldest is forgotten first (it
    /// only means one more exec carries the bundle).
    public init(current: String, capacity: Int = 10_000) {
        self.current = current
        self.capacity = max(1, capacity)
    }

    public var template: Template { state.withLock { $0.template } }

    /// Whether an exec into `sandboxID` (of `origin`) may leave the bundle out.
    public func holdsCurrent(sandboxID: String, origin: SandboxOrigin?) -> Bool {
        state.withLock { s in
            if s.sandboxes.contains(sandboxID) { return true }
            return origin == .created && s.template == .current
        }
    }

    /// A launch in `sandboxID` succeeded; `unpacked` says whether its exec had to
    /// unpack the bundle (so the version was not there before).
    public func launched(sandboxID: String, origin: SandboxOrigin?, unpacked: Bool) {
        state.withLock { s in
            if origin == .created { s.template = unpacked ? .older : .current }
            guard s.sandboxes.insert(sandboxID).inserted else { return }
            s.order.append(sandboxID)
            if s.order.count - s.head > capacity {
                s.sandboxes.remove(s.order[s.head])
                s.head += 1
                if s.head > capacity {   // compact now and then, not on every insert
                    s.order.removeFirst(s.head)
                    s.head = 0
                }
            }
        }
    }

    /// An exec without the bundle met another version in `sandboxID`.
    public func mismatch(sandboxID: String, origin: SandboxOrigin?) {
        state.withLock { s in
            if s.sandboxes.remove(sandboxID) != nil { s.order.removeAll { $0 == sandboxID }; s.head = min(s.head, s.order.count) }
            if origin == .created { s.template = .older }
        }
    }
}
