import Foundation
import LocalSandboxes
import Synchronization

/// Status transitions (superserve.md §4) and their side effects on local processes:
/// entering `pausing`/`paused` stops the sandbox's processes (SIGSTOP), entering
/// `starting`/`resuming`/`active` continues them (SIGCONT), delete kills them.
extension SuperserveEmulator {
    static let statusPollInterval: Duration = .milliseconds(20)

    /// The natural end of a transitional status.
    static func target(of transitional: SuperserveSandboxStatus) -> SuperserveSandboxStatus {
        transitional == .pausing ? .paused : .active
    }

    /// Sets a status, stamping the time and bumping the generation. Returns the new
    /// generation, or nil when the sandbox is gone.
    /// With `from`, the change is an atomic claim: it happens only when the current
    /// status is one of them (§3.5: "atomic claim `active` → `pausing`").
    @discardableResult
    func setStatus(_ id: String, _ status: SuperserveSandboxStatus, from: Set<SuperserveSandboxStatus>? = nil) -> Int? {
        let generation = state.withLock { store -> Int? in
            guard var record = store.sandboxes[id] else { return nil }
            if let from, !from.contains(record.status) { return nil }
            record.status = status
            record.statusSince = .now
            record.statusSinceDate = Date()
            record.generation += 1
            if status == .paused { record.snapshotID = "snap-" + UUID().uuidString.lowercased() }
            store.sandboxes[id] = record
            return record.generation
        }
        guard generation != nil else { return nil }
        switch status {
        case .pausing, .paused: LocalSandboxProcesses.signalAll(sandboxID: id, signal: SIGSTOP)
        case .starting, .resuming, .active: LocalSandboxProcesses.signalAll(sandboxID: id, signal: SIGCONT)
        default: break
        }
        logger.debug("superserve.sandbox.status", metadata: ["sandbox.id": "\(id)", "sandbox.status": "\(status.rawValue)"])
        return generation
    }

    /// Enters `transitional` now and reaches its target after `hold` (the configured
    /// hold for that status when nil). Returns at once; callers wait with
    /// `waitWhile`.
    @discardableResult
    func beginTransition(_ id: String, _ transitional: SuperserveSandboxStatus, hold: Duration? = nil,
                         from: Set<SuperserveSandboxStatus>? = nil) -> Bool {
        let duration = hold ?? state.withLock { $0.holds[transitional] } ?? .zero
        guard let generation = setStatus(id, transitional, from: from) else { return false }
        if duration <= .zero {
            completeTransition(id, generation: generation, transitional)
        } else {
            Task.detached { [self] in
                try? await Task.sleep(for: duration)
                self.completeTransition(id, generation: generation, transitional)
            }
        }
        return true
    }

    private func completeTransition(_ id: String, generation: Int, _ transitional: SuperserveSandboxStatus) {
        let current = state.withLock { store -> Bool in
            guard let record = store.sandboxes[id] else { return false }
            return record.generation == generation && record.status == transitional
        }
        guard current else { return }
        let target = Self.target(of: transitional)
        setStatus(id, target)
        // §3.2: `auto_delete_seconds` 0 deletes on pause.
        if target == .paused, state.withLock({ $0.sandboxes[id]?.autoDeleteSeconds }) == 0 {
            removeSandbox(id)
        }
    }

    /// Waits while the sandbox's status satisfies `condition`, at most `limit`.
    /// Returns the record at the end (nil when it is gone).
    func waitWhile(_ id: String, limit: Duration,
                   _ condition: (SuperserveSandboxStatus) -> Bool) async -> SuperserveSandboxRecord? {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while true {
            guard let record = state.withLock({ $0.sandboxes[id] }) else { return nil }
            if !condition(record.status) || ContinuousClock.now >= deadline { return record }
            try? await Task.sleep(for: Self.statusPollInterval)
        }
    }

    /// A valid data-plane token for the sandbox: the newest unexpired one, or a new
    /// one when `fresh` or none is valid. Keeps the newest two (current and previous
    /// window, §1).
    func accessToken(_ id: String, fresh: Bool) -> String? {
        let ttl = configuration.accessTokenTTL
        return state.withLock { store -> String? in
            guard var record = store.sandboxes[id] else { return nil }
            let now = ContinuousClock.now
            if !fresh, let current = record.tokens.last, current.expires > now { return current.token }
            let token = SuperserveClock.random64Hex()
            record.tokens = Array(record.tokens.filter { $0.expires > now }.suffix(1)) + [(token, now.advanced(by: ttl))]
            store.sandboxes[id] = record
            return token
        }
    }

    /// Forgets the sandbox, kills its processes and removes its directory (§3.7).
    func removeSandbox(_ id: String) {
        let existed = state.withLock { $0.sandboxes.removeValue(forKey: id) != nil }
        guard existed else { return }
        LocalSandboxProcesses.signalAll(sandboxID: id, signal: SIGKILL)
        localSandbox(id).remove()
        logger.info("superserve.sandbox.deleted", metadata: ["sandbox.id": "\(id)"])
    }

    /// Auto-pause after `timeout_seconds` of continuous active time and auto-delete
    /// after `auto_delete_seconds` paused (§3.2, §4).
    func startSweeper() {
        let interval = configuration.lifecycleSweepInterval
        let task = Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.sweepOnce()
            }
        }
        sweeper.withLock { $0 = task }
    }

    func sweepOnce() {
        let now = ContinuousClock.now
        let (toPause, toDelete) = state.withLock { store -> ([String], [String]) in
            var pause: [String] = [], delete: [String] = []
            for record in store.sandboxes.values {
                if record.status == .active, let t = record.timeoutSeconds, record.statusSince.advanced(by: .seconds(t)) <= now {
                    pause.append(record.id)
                }
                if record.status == .paused, let d = record.autoDeleteSeconds, record.statusSince.advanced(by: .seconds(d)) <= now {
                    delete.append(record.id)
                }
            }
            return (pause, delete)
        }
        for id in toPause {
            logger.info("superserve.sandbox.auto_paused", metadata: ["sandbox.id": "\(id)"])
            beginTransition(id, .pausing, from: [.active])
        }
        for id in toDelete { removeSandbox(id) }
    }
}
