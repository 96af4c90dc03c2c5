import Foundation

/// The launch's pure core (style habit 2): given what the last step observed and
/// the time elapsed since the launch began, it returns the next step. It performs
/// no I/O and reads no clock, so the rules it implements (11–23, 31, 37) are tested
/// as decision tables.
///
/// Common case (rule 24 as amended): [readSessionMetadata] → lookup → create |
/// activate → exec: a new session costs three Superserve calls (list, create, exec),
/// an active one two (list, exec: the activate a found `active` sandbox would get
/// answers nothing the list did not), a paused one three (list, activate, exec). The
/// runner bundle rides inside the exec when the sandbox may not hold its version
/// (`carryBundle`); only a bundle too large for the exec env costs a file write. A
/// prepared id replaces the lookup; a network PATCH is added only for prepared or
/// found sandboxes whose policy differs (rule 23).
public struct LaunchPlanner: Sendable {
    public struct Settings: Sendable {
        /// Rule 37: total budget of one launch.
        public var budget: Duration
        /// Rule 20: how long activate conflicts are retried, and how often.
        public var conflictWindow: Duration
        public var conflictInterval: Duration
        /// Rule 22: the policy every sandbox must carry.
        public var networkPolicy: NetworkPolicy
        /// Rule 34: delay before transient retry number `attempt` (0-based), given the server hint.
        public var backoff: @Sendable (_ attempt: Int, _ hint: Duration?) -> Duration
        /// Whether the sandbox is known to hold the current runner bundle
        /// (`RunnerVersions.holdsCurrent`), so its exec may leave the bundle out.
        public var holdsCurrentRunner: @Sendable (_ sandboxID: String, _ origin: SandboxOrigin?) -> Bool
        /// Whether the bundle fits in the exec's env (`RunnerBundle.fitsInEnvironment`);
        /// if not, it is written as a file first.
        public var bundleFitsInExec: Bool
        /// Whether the launcher still holds data-plane access (a token) for the
        /// sandbox from an earlier launch (`SandboxActivity`), so a found `active`
        /// sandbox needs no activate (rule 32 refreshes a token that expired).
        public var hasDataPlaneAccess: @Sendable (_ sandboxID: String) -> Bool
        /// Whether a `too_many_sandboxes` 429 waits for room (`QuotaRoom` wired) rather
        /// than backing off like any 429.
        public var waitsForRoom: Bool
        /// Time waiting for room does not count against `budget`, up to this much;
        /// past it the launch fails with the quota as its reason.
        public var maxRoomWait: Duration
        /// Whether launches are waiting for room now (`QuotaRoom.waiting > 0`): a new
        /// create then joins the line instead of taking room made for those before it.
        public var roomQueued: @Sendable () -> Bool
        /// Warm pool: when set, a session with no sandbox claims a pool sandbox before
        /// creating one, trying at most `warmPoolAttempts` of them.
        public var warmPool = false
        public var warmPoolAttempts = 3

        public init(budget: Duration, conflictWindow: Duration, conflictInterval: Duration,
                    networkPolicy: NetworkPolicy, backoff: @escaping @Sendable (Int, Duration?) -> Duration,
                    holdsCurrentRunner: @escaping @Sendable (String, SandboxOrigin?) -> Bool = { _, _ in false },
                    bundleFitsInExec: Bool = true,
                    hasDataPlaneAccess: @escaping @Sendable (String) -> Bool = { _ in false },
                    waitsForRoom: Bool = false, maxRoomWait: Duration = .seconds(600),
                    roomQueued: @escaping @Sendable () -> Bool = { false }) {
            self.budget = budget
            self.conflictWindow = conflictWindow
            self.conflictInterval = conflictInterval
            self.networkPolicy = networkPolicy
            self.backoff = backoff
            self.holdsCurrentRunner = holdsCurrentRunner
            self.bundleFitsInExec = bundleFitsInExec
            self.hasDataPlaneAccess = hasDataPlaneAccess
            self.waitsForRoom = waitsForRoom
            self.maxRoomWait = maxRoomWait
            self.roomQueued = roomQueued
        }
    }

    /// The Anthropic metadata key of a prepared sandbox id (rule 11).
    public static let preparedKey = "superserve.sandbox_id"
    /// Rule 12 (amended): the Superserve metadata tag that marks a sandbox as prepared
    /// for an environment; its value must be this environment's id.
    public static let preparedForTag = "cma.prepared_for"
    /// Rule 18's session tag: a prepared sandbox already bound to another session is refused.
    public static let sessionTag = "cma.session_id"

    public let settings: Settings
    public private(set) var sandboxID: String?
    public private(set) var origin: SandboxOrigin?
    /// Other live sandboxes the last lookup found for this session (rule 14: log, never delete).
    public private(set) var lookupExtras: [String] = []
    /// Looked-up sandboxes that turned out gone or failed; the next lookup skips them.
    public private(set) var dropped: Set<String> = []
    /// Whether the next exec carries the runner bundle in its env (rule 24 as amended).
    public private(set) var carryBundle = false
    /// The sandbox the bundle file was written to (fallback for a bundle too large for the env).
    private var bundleFileIn: String?
    /// Set when an exec without the bundle met another version: every later exec carries it.
    private var versionMismatch = false
    /// Time spent waiting for room under the quota, and the step to take after it.
    public private(set) var roomWaited: Duration = .zero
    private var afterRoom: LaunchStep?

    private var afterWait: LaunchStep?
    private var transientFailures = 0
    private var conflictSince: Duration?
    private var lastProblem = "none"
    private let initialPrepared: String?
    /// Rule 12 (amended): whose prepared sandboxes may be adopted.
    private let environmentID: String
    private let sessionID: String
    /// Set once a prepared sandbox's tags were read and match.
    private var preparedVerified = false
    /// Warm pool: claims tried (lost or unusable); the pool is done when it was empty.
    private var poolAttempts = 0
    private var poolDone = false

    /// `preparedSandboxID`: the id from `work.metadata` or `work.data.metadata`, if any
    /// (rule 11, first two places; see `preparedSandboxID(workMetadata:dataMetadata:)`).
    /// `environmentID` and `sessionID` are the launch's, against which a prepared
    /// sandbox's tags are checked (rule 12).
    public init(settings: Settings, preparedSandboxID: String?, environmentID: String, sessionID: String) {
        self.settings = settings
        self.initialPrepared = preparedSandboxID
        self.environmentID = environmentID
        self.sessionID = sessionID
    }

    /// Rule 12 (amended): why a prepared sandbox may not be adopted, naming the tag;
    /// nil when it is marked for this environment and free or bound to this session.
    public static func preparedRefusal(_ metadata: [String: String], environmentID: String, sessionID: String) -> String? {
        guard let preparedFor = metadata[preparedForTag], !preparedFor.isEmpty else {
            return "tag \(preparedForTag) is missing"
        }
        guard preparedFor == environmentID else { return "tag \(preparedForTag) names another environment" }
        if let bound = metadata[sessionTag], !bound.isEmpty, bound != sessionID {
            return "tag \(sessionTag) names another session"
        }
        return nil
    }

    /// Rule 11: `work.metadata`, then `work.data.metadata`; first non-empty hit.
    public static func preparedSandboxID(workMetadata: [String: String], dataMetadata: [String: String]?) -> String? {
        if let id = workMetadata[preparedKey], !id.isEmpty { return id }
        if let id = dataMetadata?[preparedKey], !id.isEmpty { return id }
        return nil
    }

    /// Rules 13–14: drop `failed`/`deleted` (and ids already dropped), then prefer
    /// `active`, then `starting`/`resuming`, then `paused`/`pausing`, then anything
    /// else, newest first. Returns the pick and the rest.
    public static func choose(from sandboxes: [Sandbox], excluding: Set<String> = []) -> (chosen: Sandbox, extras: [Sandbox])? {
        func rank(_ status: SandboxStatus) -> Int {
            switch status {
            case .active: 0
            case .starting, .resuming: 1
            case .paused, .pausing: 2
            default: 3
            }
        }
        let live = sandboxes.enumerated().filter { _, sandbox in
            sandbox.status != .failed && sandbox.status != .deleted && !excluding.contains(sandbox.id)
        }
        let ordered = live.sorted { a, b in
            let (ra, rb) = (rank(a.element.status), rank(b.element.status))
            if ra != rb { return ra < rb }
            let (da, db) = (a.element.createdAt ?? .distantPast, b.element.createdAt ?? .distantPast)
            if da != db { return da > db }
            return a.offset < b.offset   // the server lists newest first
        }.map(\.element)
        guard let first = ordered.first else { return nil }
        return (first, Array(ordered.dropFirst()))
    }

    /// The next step after `event`, `elapsed` after the launch began.
    public mutating func next(after event: LaunchEvent, elapsed: Duration) -> LaunchStep {
        let step = decide(event, elapsed: elapsed)
        return guardBudget(step, elapsed: elapsed)
    }

    // MARK: - Decision

    private mutating func decide(_ event: LaunchEvent, elapsed: Duration) -> LaunchStep {
        switch event {
        case .started:
            if let id = initialPrepared { return adopt(id, origin: .prepared) }
            return .readSessionMetadata

        case .pooledClaim(let claim):
            return decidePooled(claim, elapsed: elapsed)

        case .waited:
            let step = afterWait ?? .fail(reason: "internal: nothing to resume after a wait", sandboxID: sandboxID)
            afterWait = nil
            return step

        case .roomWaited(let waited):
            roomWaited += waited
            let step = afterRoom ?? .fail(reason: "internal: nothing to resume after waiting for room", sandboxID: sandboxID)
            afterRoom = nil
            if roomWaited > settings.maxRoomWait {
                return .fail(reason: "no room under the active-sandbox quota for \(Self.seconds(settings.maxRoomWait))",
                             sandboxID: sandboxID)
            }
            return step

        case .sessionMetadata(.success(let metadata)):
            succeeded()
            if let id = metadata[Self.preparedKey], !id.isEmpty { return adopt(id, origin: .prepared) }
            return .lookup
        case .sessionMetadata(.failure(let error)):
            switch error {
            case .notFound: return .fail(reason: "session not found (404)", sandboxID: nil)
            case .fatal(let message): return .fail(reason: "session read failed: \(message)", sandboxID: nil)
            case .transient(let message, let hint):
                return retry(.readSessionMetadata, problem: "session read: \(message)", hint: hint)
            }

        case .lookedUp(.success(let sandboxes)):
            succeeded()
            guard let (chosen, extras) = Self.choose(from: sandboxes, excluding: dropped) else {
                lookupExtras = []
                return poolOrCreate()
            }
            lookupExtras = extras.map(\.id)
            if chosen.status == .active, settings.networkPolicy.matches(chosen.network),
               settings.hasDataPlaneAccess(chosen.id) {
                // The list already says it is up and locked down, and the token of an
                // earlier launch is at hand: an activate would answer nothing new (a
                // token that expired meanwhile is refreshed by the data plane, rule 32).
                sandboxID = chosen.id
                origin = .lookedUp
                conflictSince = nil
                return execStep(chosen.id)
            }
            return adopt(chosen.id, origin: .lookedUp)
        case .lookedUp(.failure(let error)):
            switch Self.classify(error, .read) {
            case .retry(let hint), .quota(let hint): return retry(.lookup, problem: "lookup: \(error)", hint: hint)
            case .notFound, .conflict, .fatal: return .fail(reason: "sandbox lookup failed: \(error)", sandboxID: nil)
            }

        case .created(.success(let sandbox)):
            succeeded()
            sandboxID = sandbox.id
            origin = .created
            // Created with the policy of rule 22, so no PATCH is needed.
            return execStep(sandbox.id)
        case .created(.failure(let error)):
            switch Self.classify(error, .create) {
            case .quota where settings.waitsForRoom:
                // A 429 refuses before anything is created (superserve.md §7), so the
                // create is repeated as it is once there is room: no lookup (rule 16's
                // doubt is about answers that may hide a create).
                lastProblem = "create: \(error)"
                afterRoom = .create
                return .waitForRoom
            case .retry(let hint), .quota(let hint):
                // Rule 16: the 201 may have been lost; look up again before any create.
                return retry(.lookup, problem: "create: \(error)", hint: hint)
            case .conflict(_, let hint):
                // Template not ready: nothing was created, so creating again is safe (rule 33).
                return retry(.create, problem: "create: \(error)", hint: hint)
            case .notFound, .fatal:
                return .fail(reason: "sandbox create failed: \(error)", sandboxID: nil)
            }

        case .activated(.success(let sandbox)):
            succeeded()
            conflictSince = nil
            let id = sandbox.id.isEmpty ? (sandboxID ?? sandbox.id) : sandbox.id
            sandboxID = id
            // Rule 23: lock egress before the runner starts, only when it differs.
            if settings.networkPolicy.matches(sandbox.network) { return execStep(id) }
            return .patchNetwork(sandboxID: id)
        case .activated(.failure(let error)):
            guard let id = sandboxID else { return .fail(reason: "internal: activate without a sandbox", sandboxID: nil) }
            switch Self.classify(error, .activate) {
            case .conflict("sandbox_pausing", _):
                // Rule 20: the only 409 the SDK retries.
                return conflict(id, status: "pausing", elapsed: elapsed, then: .activate(sandboxID: id))
            case .conflict:
                // Rule 20: any other 409 → read the sandbox and decide by its status.
                lastProblem = "activate: \(error)"
                return .readSandbox(sandboxID: id)
            case .notFound:
                return gone(id, detail: "not found (404)")
            case .quota where settings.waitsForRoom:
                lastProblem = "activate: \(error)"
                afterRoom = .activate(sandboxID: id)
                return .waitForRoom
            case .retry(let hint), .quota(let hint):
                // 429 too_many_sandboxes without a QuotaRoom: back off within the budget (rule 20).
                return retry(.activate(sandboxID: id), problem: "activate: \(error)", hint: hint)
            case .fatal:
                return .fail(reason: "activate of sandbox \(id) failed: \(error)", sandboxID: id)
            }

        case .sandboxRead(.success(let sandbox)):
            succeeded()
            let id = sandbox.id.isEmpty ? (sandboxID ?? sandbox.id) : sandbox.id
            if origin == .prepared, !preparedVerified {
                // Rule 12 (amended): read before anything wakes or uses it.
                if let refusal = Self.preparedRefusal(sandbox.metadata, environmentID: environmentID, sessionID: sessionID) {
                    return .fail(reason: "prepared sandbox \(id) refused: \(refusal)", sandboxID: nil)
                }
                preparedVerified = true
                if sandbox.status == .failed || sandbox.status == .deleted {
                    return gone(id, detail: "status \(sandbox.status.rawValue)")
                }
                return .activate(sandboxID: id)
            }
            switch sandbox.status {
            case .failed, .deleted:
                return gone(id, detail: "status \(sandbox.status.rawValue)")
            default:
                return conflict(id, status: sandbox.status.rawValue, elapsed: elapsed, then: .activate(sandboxID: id))
            }
        case .sandboxRead(.failure(let error)):
            guard let id = sandboxID else { return .fail(reason: "internal: read without a sandbox", sandboxID: nil) }
            switch Self.classify(error, .read) {
            case .notFound: return gone(id, detail: "not found (404)")
            case .retry(let hint), .quota(let hint):
                return retry(.readSandbox(sandboxID: id), problem: "read: \(error)", hint: hint)
            case .conflict, .fatal: return .fail(reason: "reading sandbox \(id) failed: \(error)", sandboxID: id)
            }

        case .networkPatched(.success):
            succeeded()
            guard let id = sandboxID else { return .fail(reason: "internal: patch without a sandbox", sandboxID: nil) }
            return execStep(id)
        case .networkPatched(.failure(let error)):
            guard let id = sandboxID else { return .fail(reason: "internal: patch without a sandbox", sandboxID: nil) }
            switch Self.classify(error, .update) {
            case .conflict:
                // No longer active (network PATCH needs `active`): wake it again, within rule 20's window.
                return conflict(id, status: "not active for the network update", elapsed: elapsed, then: .activate(sandboxID: id))
            case .notFound:
                return gone(id, detail: "not found (404)")
            case .retry(let hint), .quota(let hint):
                return retry(.patchNetwork(sandboxID: id), problem: "network update: \(error)", hint: hint)
            case .fatal:
                return .fail(reason: "network update of sandbox \(id) failed: \(error)", sandboxID: id)
            }

        case .bundleWritten(.success):
            succeeded()
            guard let id = sandboxID else { return .fail(reason: "internal: write without a sandbox", sandboxID: nil) }
            bundleFileIn = id
            carryBundle = false
            return .exec(sandboxID: id)
        case .bundleWritten(.failure(let error)):
            guard let id = sandboxID else { return .fail(reason: "internal: write without a sandbox", sandboxID: nil) }
            return repeatIdempotent(.writeBundle(sandboxID: id), after: error, problem: "bundle write",
                                    failure: "writing the runner bundle to sandbox \(id) failed")

        case .executed(.success(let result)):
            guard let id = sandboxID else { return .fail(reason: "internal: exec without a sandbox", sandboxID: nil) }
            succeeded()
            if result.exitCode == RunnerVersions.versionMismatchExitCode, !carryBundle, bundleFileIn != id, !versionMismatch {
                // Sent without the bundle, the exec met another version and changed
                // nothing: repeat it with the bundle (the one extra call a wrong
                // belief about the template costs).
                versionMismatch = true
                lastProblem = "runner version in sandbox \(id) differs"
                return execStep(id)
            }
            guard result.exitCode == 0 else {
                return .fail(reason: "launch.sh in sandbox \(id) exited \(result.exitCode)", sandboxID: id)
            }
            // Rule 30: no integer pid → failure.
            guard let printed = LaunchOutput.parse(result.stdout) else {
                return .fail(reason: "launch.sh in sandbox \(id) printed no pid", sandboxID: id)
            }
            return .launched(sandboxID: id, pid: printed.pid, alreadyRunning: printed.alreadyRunning)
        case .executed(.failure(let error)):
            guard let id = sandboxID else { return .fail(reason: "internal: exec without a sandbox", sandboxID: nil) }
            return repeatIdempotent(.exec(sandboxID: id), after: error, problem: "launch exec",
                                    failure: "launch exec in sandbox \(id) failed")
        }
    }

    // MARK: - Warm pool

    /// No sandbox for the session: a pool sandbox first, when there is a pool.
    private mutating func poolOrCreate() -> LaunchStep {
        guard settings.warmPool, !poolDone, poolAttempts < settings.warmPoolAttempts else { return createOrWaitForRoom() }
        return .claimPooled(retrying: nil)
    }

    /// A create, unless launches before this one wait for room under the active-sandbox
    /// quota: a create now would meet the same 429 or take the room made for them.
    private mutating func createOrWaitForRoom() -> LaunchStep {
        if settings.waitsForRoom, settings.roomQueued() {
            lastProblem = "waiting in line for room under the active-sandbox quota"
            afterRoom = .create
            return .waitForRoom
        }
        return .create
    }

    private mutating func decidePooled(_ claim: PooledClaimEvent, elapsed: Duration) -> LaunchStep {
        switch claim {
        case .empty:
            poolDone = true
            return createOrWaitForRoom()
        case .lost:
            poolAttempts += 1
            return poolOrCreate()
        case .ran(let id, .success(let result)):
            sandboxID = id
            origin = .pooled
            return decide(.executed(.success(result)), elapsed: elapsed)
        case .ran(let id, .failure(let error)):
            switch Self.classify(error, .dataPlane) {
            case .retry(let hint), .quota(let hint):
                // The claim is idempotent for its holder and launch.sh for its work id
                // (rule 31): the same exec in the same sandbox is repeated.
                sandboxID = id
                origin = .pooled
                return retry(.claimPooled(retrying: id), problem: "pool claim exec: \(error)", hint: hint)
            case .notFound, .conflict, .fatal:
                // Unusable (deleted by a recycle, broken): another pool sandbox or a create.
                lastProblem = "pool sandbox \(id): \(error)"
                sandboxID = nil
                origin = nil
                poolAttempts += 1
                return poolOrCreate()
            }
        }
    }

    // MARK: - Helpers

    /// The launch exec, with the bundle in its env unless the sandbox is known to hold
    /// the current version; a bundle too large for the env is written first.
    private mutating func execStep(_ id: String) -> LaunchStep {
        let needed = versionMismatch || !settings.holdsCurrentRunner(id, origin)
        guard needed else {
            carryBundle = false
            return .exec(sandboxID: id)
        }
        if settings.bundleFitsInExec {
            carryBundle = true
            return .exec(sandboxID: id)
        }
        carryBundle = false
        return bundleFileIn == id ? .exec(sandboxID: id) : .writeBundle(sandboxID: id)
    }

    private mutating func adopt(_ id: String, origin: SandboxOrigin) -> LaunchStep {
        sandboxID = id
        self.origin = origin
        conflictSince = nil
        // Rule 12 (amended): a prepared id comes from session metadata, which whoever
        // holds an API key can set; its tags are read before it is activated.
        if origin == .prepared, !preparedVerified { return .readSandbox(sandboxID: id) }
        return .activate(sandboxID: id)
    }

    /// The bundle write and the launch exec are safe to repeat whatever the failed
    /// attempt did: the same bytes to the same path, and `launch.sh` is idempotent per
    /// work id (rule 31: a runner already serving it is reported, not started again).
    /// So every 5xx, 429 and lost answer is retried within the budget, not only rule
    /// 33's data-plane row (transport, 502); a 4xx still fails the launch.
    private mutating func repeatIdempotent(_ step: LaunchStep, after error: SandboxLifecycleError, problem: String,
                                           failure: String) -> LaunchStep {
        switch Self.classify(error, .idempotentDataPlane) {
        case .retry(let hint), .quota(let hint):
            return retry(step, problem: "\(problem): \(error)", hint: hint)
        case .notFound, .conflict, .fatal:
            return .fail(reason: "\(failure): \(error)", sandboxID: sandboxID)
        }
    }

    private mutating func succeeded() {
        transientFailures = 0
    }

    private mutating func retry(_ step: LaunchStep, problem: String, hint: Duration?) -> LaunchStep {
        lastProblem = problem
        let delay = settings.backoff(transientFailures, hint)
        transientFailures += 1
        afterWait = step
        return .wait(delay)
    }

    /// Rule 20: retry every `conflictInterval` for up to `conflictWindow` from the first conflict.
    private mutating func conflict(_ id: String, status: String, elapsed: Duration, then step: LaunchStep) -> LaunchStep {
        lastProblem = "sandbox \(id) is \(status)"
        let since = conflictSince ?? elapsed
        conflictSince = since
        if elapsed - since + settings.conflictInterval > settings.conflictWindow {
            return .fail(reason: "sandbox \(id) stayed \(status) for \(Self.seconds(settings.conflictWindow))", sandboxID: id)
        }
        afterWait = step
        return .wait(settings.conflictInterval)
    }

    /// A sandbox that is gone or failed: binding when prepared (rule 12), dropped
    /// and looked up again when found by lookup (rules 13, 20).
    private mutating func gone(_ id: String, detail: String) -> LaunchStep {
        switch origin {
        case .prepared:
            return .fail(reason: "prepared sandbox \(id) is unusable: \(detail)", sandboxID: id)
        case .lookedUp:
            dropped.insert(id)
            sandboxID = nil
            origin = nil
            conflictSince = nil
            return .lookup
        case .created, .pooled, nil:
            return .fail(reason: "sandbox \(id) is unusable: \(detail)", sandboxID: id)
        }
    }

    private mutating func guardBudget(_ step: LaunchStep, elapsed total: Duration) -> LaunchStep {
        // Waiting in line for room under the quota is not the launch's own slowness.
        let elapsed = total - min(roomWaited, settings.maxRoomWait)
        switch step {
        case .waitForRoom:
            return step
        case .launched, .fail:
            return step
        case .wait(let delay) where elapsed + delay >= settings.budget:
            return .fail(reason: budgetReason, sandboxID: sandboxID)
        default:
            return elapsed >= settings.budget ? .fail(reason: budgetReason, sandboxID: sandboxID) : step
        }
    }

    private var budgetReason: String {
        "launch budget of \(Self.seconds(settings.budget)) exhausted (last problem: \(lastProblem))"
    }

    static func seconds(_ duration: Duration) -> String {
        let (s, attos) = duration.components
        return attos == 0 ? "\(s) s" : String(format: "%.1f s", Double(s) + Double(attos) / 1e18)
    }

    /// Rule 33 for the Superserve calls: one classifier decides; the planner only
    /// maps its disposition to the next step.
    private static func classify(_ error: SandboxLifecycleError, _ call: SuperserveCall) -> SuperserveDisposition {
        SuperserveErrorClassifier.disposition(of: error, for: call)
    }
}

extension SandboxLifecycleError {
    var retryAfter: Duration? {
        if case .http(_, _, _, let hint) = self { return hint }
        return nil
    }
}
