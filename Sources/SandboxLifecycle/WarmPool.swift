import APIClient
import Foundation
import Logging
import Synchronization

/// Keeps `size` sandboxes of one environment created from its template ahead of
/// time, with the runner bundle already written, so that a new session's launch
/// skips the create and the bundle write (rule 24's critical path becomes lookup →
/// claim-and-launch exec).
///
/// Pool sandboxes stay **active**, not paused: a claim is then one data-plane exec
/// with the token the pool already holds, where a paused one would first need an
/// activate (a resume, the slow part of a wake) on the critical path. The price is
/// compute for idle VMs and `size` slots of the 50-active quota (superserve.md §7),
/// which is why the size is per environment, 0 (off) by default and capped at 100.
/// A pool sandbox that Superserve auto-paused anyway (`timeout_seconds`) still works:
/// the claim's exec meets 503 and rule 32's refresh activates it.
///
/// Replicas share one pool per environment: each lists `metadata.cma.pool=<env>`
/// and refills up to `size` in all, so two replicas do not keep 2 × size. Claims are
/// made safe between them inside the sandbox (`WarmPool+Claim.swift`).
///
/// Every call goes through the shared Superserve client, so the pool stays inside
/// rule 35's token bucket; it is low priority there: before each call it waits until
/// the bucket is at least half full, so launches are never queued behind a refill.
public final class WarmPool: Sendable {
    public struct Configuration: Sendable {
        /// The environment whose sessions take from this pool (`cma.pool`).
        public var environmentID: String
        /// `CMA_WARM_POOL` / `warm_pool`: sandboxes kept ready; 0 is off.
        public var size: Int
        /// `CMA_WARM_POOL_MAX_AGE_SECONDS` / `warm_pool.max_age_seconds`: older ones are
        /// recycled (deleted and replaced), so a pool sandbox never outlives the access
        /// token it was created with (one to two hours, superserve.md §1) by much.
        public var maxAge: Duration = .seconds(3600)
        /// `CMA_WARM_POOL_INTERVAL_SECONDS`: time between maintenance passes (a claim
        /// also starts one).
        public var interval: Duration = .seconds(10)
        /// A sandbox still `staging` this long after its creation lost its creator
        /// (or its create answer, rule 16) and is deleted.
        public var stagingTimeout: Duration = .seconds(300)

        public init(environmentID: String, size: Int) {
            self.environmentID = environmentID
            self.size = size
        }
    }

    /// A claimable sandbox and the data-plane access the pool holds for it.
    public struct Candidate: Sendable {
        public let sandboxID: String
        public let access: SandboxAccess
    }

    /// For `/status`: counts only.
    public struct Snapshot: Sendable, Equatable {
        public var size = 0
        public var ready = 0
        public var claims: [WarmPoolClaimOutcome: Int] = [:]
        public var created = 0
        public var refillFailures = 0
        public var recycled = 0
        public var lastError: String?
    }

    struct State {
        /// Claimable members, oldest first, each with its access.
        var members: [Candidate] = []
        /// Taken for a claim (won or lost) or being recycled: never offered again
        /// while the listing still shows them.
        var excluded: Set<String> = []
        var snapshot = Snapshot()
    }

    public let configuration: Configuration
    let client: SuperserveClient
    let bundle: RunnerBundle
    let launcher: LauncherConfiguration
    let logger: Logger
    let sleeper: any Sleeper
    let now: @Sendable () -> Date
    let observer: (any WarmPoolObserver)?
    let bundleDigest: String
    let state = Mutex(State())
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// `launcher`: the environment's profile (template, network policy, sandbox
    /// timeouts, runner directory); pool sandboxes are created exactly as a launch
    /// creates one (rules 15 and 22), only with the pool's tags instead of a session's.
    public init(client: SuperserveClient, bundle: RunnerBundle, launcher: LauncherConfiguration,
                configuration: Configuration, logger: Logger, sleeper: any Sleeper = ContinuousSleeper(),
                now: @escaping @Sendable () -> Date = { Date() }, observer: (any WarmPoolObserver)? = nil) {
        self.client = client
        self.bundle = bundle
        self.launcher = launcher
        self.configuration = configuration
        var log = logger
        log[metadataKey: "environment.id"] = "\(configuration.environmentID)"
        self.logger = log
        self.sleeper = sleeper
        self.now = now
        self.observer = observer
        self.bundleDigest = Self.digest(bundle, profile: launcher)
        (wakeStream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        state.withLock { $0.snapshot.size = configuration.size }
    }

    public var snapshot: Snapshot { state.withLock { $0.snapshot } }

    /// Maintains the pool every `interval`, and soon after each claim, until cancelled.
    public func run() async {
        while !Task.isCancelled {
            await maintain()
            let stream = wakeStream
            let sleeper = self.sleeper, interval = configuration.interval
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await sleeper.sleep(for: interval) }
                group.addTask {
                    var wakes = stream.makeAsyncIterator()
                    _ = await wakes.next()
                }
                _ = await group.next()
                group.cancelAll()
            }
        }
    }

    /// Takes the oldest claimable sandbox, or nil. The caller must claim it inside
    /// the sandbox (`claimAndLaunch`) before using it: another replica may hold it.
    public func take() -> Candidate? {
        let candidate = state.withLock { s -> Candidate? in
            guard !s.members.isEmpty else { return nil }
            let first = s.members.removeFirst()
            s.excluded.insert(first.sandboxID)
            s.snapshot.ready = s.members.count
            return first
        }
        if candidate == nil { record(.empty) }
        observer?.warmPoolReady(environment: configuration.environmentID, count: snapshot.ready)
        wake.yield()   // refill soon
        return candidate
    }

    /// One pass: list the pool, recycle what is too old or broken, get a token for
    /// members another replica created, create what is missing.
    @discardableResult
    public func maintain() async -> Snapshot {
        let env = configuration.environmentID
        guard configuration.size > 0 else { return snapshot }
        let listed: [Sandbox]
        do {
            try await yieldToLaunches()
            listed = try await client.listSandboxes(metadata: [WarmPoolPlan.poolTag: env])
        } catch {
            noteError("list: \(error)")
            return snapshot
        }
        let excluded = state.withLock { $0.excluded }
        let plan = WarmPoolPlan.make(listed: listed, now: now(), size: configuration.size, maxAge: configuration.maxAge,
                                     stagingTimeout: configuration.stagingTimeout, bundleDigest: bundleDigest,
                                     excluded: excluded)
        let known = state.withLock { s in
            s.excluded.subtract(plan.forget)
            return Dictionary(s.members.map { ($0.sandboxID, $0) }, uniquingKeysWith: { a, _ in a })
        }
        var members: [Candidate] = []
        for sandbox in plan.ready {
            if let member = known[sandbox.id] {
                members.append(member)
                continue
            }
            // Created by another replica or an earlier process: get a token now, off
            // the critical path (activate of an active sandbox only hands one out).
            do {
                try await yieldToLaunches()
                members.append(Candidate(sandboxID: sandbox.id, access: try SandboxAccess(try await client.activate(id: sandbox.id))))
            } catch {
                logger.warning("warm_pool.activate_failed", metadata: ["sandbox.id": "\(sandbox.id)", "error.message": "\(error)"])
            }
        }
        publish(members)
        for (sandbox, reason) in plan.recycle {
            await recycle(sandbox, reason: reason)
        }
        for _ in 0..<plan.create {
            guard await createOne() else { break }
        }
        observer?.warmPoolReady(environment: env, count: snapshot.ready)
        return snapshot
    }

    /// Replaces the member list; members taken meanwhile (now excluded) stay out.
    private func publish(_ members: [Candidate]) {
        state.withLock { s in
            s.members = members.filter { !s.excluded.contains($0.sandboxID) }
            s.snapshot.ready = s.members.count
        }
    }

    /// Creates one pool sandbox tagged `staging`, writes the runner bundle into it,
    /// then tags it `ready` (one PATCH of the whole map, superserve.md §3.6). Only
    /// `ready` ones are ever claimed, so a claim never meets a sandbox without its bundle.
    private func createOne() async -> Bool {
        let env = configuration.environmentID
        var metadata = [WarmPoolPlan.poolTag: env, WarmPoolPlan.stateTag: "staging",
                        WarmPoolPlan.pooledAtTag: Timestamp.format(now()), WarmPoolPlan.bundleTag: bundleDigest]
        let request = CreateSandboxRequest(
            name: "cma-pool-" + Self.randomSuffix(), fromTemplate: launcher.template, metadata: metadata,
            network: launcher.networkPolicy, timeoutSeconds: launcher.sandboxTimeoutSeconds,
            autoDeleteSeconds: launcher.autoDeleteSeconds)
        let sandbox: Sandbox
        do {
            try await yieldToLaunches()
            sandbox = try await client.createSandbox(request)
        } catch {
            // Rule 16 for the pool: a lost 201 leaves a `staging` sandbox that the
            // staging timeout recycles; nothing is created again blindly in this pass.
            noteError("create: \(error)")
            state.withLock { $0.snapshot.refillFailures += 1 }
            observer?.warmPoolRefill(environment: env, created: false)
            return false
        }
        do {
            let access = try SandboxAccess(sandbox)
            try await yieldToLaunches()
            try await client.writeFile(access, path: RunnerEnvironment.bundlePath(runnerDirectory: launcher.runnerDirectory, version: bundle.version),
                                       contents: bundle.archive)
            metadata[WarmPoolPlan.stateTag] = "ready"
            try await yieldToLaunches()
            try await client.updateSandbox(id: sandbox.id, metadata: metadata)
            state.withLock { s in
                s.members.append(Candidate(sandboxID: sandbox.id, access: access))
                s.snapshot.ready = s.members.count
                s.snapshot.created += 1
            }
            logger.info("warm_pool.created", metadata: ["sandbox.id": "\(sandbox.id)"])
            observer?.warmPoolRefill(environment: env, created: true)
            return true
        } catch {
            noteError("staging: \(error)")
            logger.warning("warm_pool.staging_failed", metadata: ["sandbox.id": "\(sandbox.id)", "error.message": "\(error)"])
            _ = try? await client.deleteSandbox(id: sandbox.id)
            state.withLock { $0.snapshot.refillFailures += 1 }
            observer?.warmPoolRefill(environment: env, created: false)
            return false
        }
    }

    func record(_ outcome: WarmPoolClaimOutcome) {
        state.withLock { $0.snapshot.claims[outcome, default: 0] += 1 }
        observer?.warmPoolClaim(environment: configuration.environmentID, outcome: outcome)
    }

    func noteError(_ message: String) {
        state.withLock { $0.snapshot.lastError = message }
        logger.warning("warm_pool.failed", metadata: ["error.message": "\(message)"])
    }

    /// Low priority inside rule 35's shared bucket: wait until it is at least half
    /// full (launches take tokens freely; the pool only uses what they leave).
    func yieldToLaunches() async throws {
        while !client.hasSpareCapacity {
            try await sleeper.sleep(for: .milliseconds(50))
        }
    }

    /// A digest of what a pool sandbox was made with: the bundle's files (names, modes,
    /// contents; not the archive's timestamps, which differ per process) and the
    /// profile's template, egress (rule 22) and sandbox timeouts. A replica claims only
    /// sandboxes with its own digest, so a changed egress policy never reaches a session
    /// through an older pool sandbox (a claim makes no network PATCH, rule 23).
    /// FNV-1a 64: identity, not security.
    static func digest(_ bundle: RunnerBundle, profile: LauncherConfiguration) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        for entry in bundle.entries.sorted(by: { $0.name < $1.name }) {
            mix(entry.name.utf8)
            mix(String(entry.mode).utf8)
            mix(entry.contents)
            mix([0])
        }
        let policy = profile.networkPolicy
        let settings = [profile.template, policy.allowOut.sorted().joined(separator: ","),
                        policy.denyOut.sorted().joined(separator: ","),
                        profile.sandboxTimeoutSeconds.map(String.init) ?? "-", profile.autoDeleteSeconds.map(String.init) ?? "-",
                        profile.runnerDirectory]
        for setting in settings {
            mix(setting.utf8)
            mix([0])
        }
        return String(hash, radix: 16)
    }

    static func randomSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}

extension SuperserveClient {
    /// Whether rule 35's shared bucket is at least half full: the warm pool's
    /// low-priority gate.
    var hasSpareCapacity: Bool {
        // Against the burst in force: once Superserve reports a smaller team burst,
        // the bucket never holds more than that.
        bucket.available() >= Double(bucket.burstInForce) / 2
    }
}
