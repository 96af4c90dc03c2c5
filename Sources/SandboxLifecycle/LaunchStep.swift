import Foundation

/// The next thing a launch does, as decided by `LaunchPlanner` (style habit 2:
/// the lifecycle's next-step decision is a pure function of what was observed).
public enum LaunchStep: Sendable, Equatable {
    /// `GET /v1/sessions/{id}` for the prepared id (rule 11, third place).
    case readSessionMetadata
    /// `GET /sandboxes?metadata.cma.session_id=…` without a status filter (rule 13).
    case lookup
    /// `POST /sandboxes` (rule 15).
    case create
    /// Warm pool: take a pool sandbox (or retry `retrying` after a transient error) and
    /// run the claim-and-launch exec in it (`WarmPool+Claim.swift`); replaces create,
    /// bundle write and exec.
    case claimPooled(retrying: String?)
    /// `POST /sandboxes/{id}/activate`, the only wake-up call (rule 19).
    case activate(sandboxID: String)
    /// `GET /sandboxes/{id}` after an activate 409 other than `sandbox_pausing` (rule 20).
    case readSandbox(sandboxID: String)
    /// `PATCH /sandboxes/{id}` with both network lists (rule 23).
    case patchNetwork(sandboxID: String)
    /// One raw-body write of the runner bundle (rule 24).
    case writeBundle(sandboxID: String)
    /// The one exec that unpacks the bundle and runs launch.sh (rules 24, 29).
    case exec(sandboxID: String)
    /// Sleep, then report `.waited`.
    case wait(Duration)
    /// The team's active-sandbox quota is full (429 `too_many_sandboxes`): wait in
    /// launch order until room is made (`QuotaRoom`), then report `.roomWaited`.
    case waitForRoom
    /// Hand-off done: the runner was started (or already serves this work id, rule 31).
    case launched(sandboxID: String, pid: Int, alreadyRunning: Bool)
    /// The launch failed; the caller force-stops the item (rule 37).
    case fail(reason: String, sandboxID: String?)
}

/// What the shell observed after carrying out a step.
public enum LaunchEvent: Sendable {
    case started
    case sessionMetadata(Result<[String: String], SessionMetadataError>)
    case lookedUp(Result<[Sandbox], SandboxLifecycleError>)
    case created(Result<Sandbox, SandboxLifecycleError>)
    case activated(Result<Sandbox, SandboxLifecycleError>)
    case sandboxRead(Result<Sandbox, SandboxLifecycleError>)
    case networkPatched(Result<Void, SandboxLifecycleError>)
    case bundleWritten(Result<Void, SandboxLifecycleError>)
    case executed(Result<ExecResult, SandboxLifecycleError>)
    case pooledClaim(PooledClaimEvent)
    case waited
    /// Back from `waitForRoom` after `waited`.
    case roomWaited(Duration)
}

/// What a `claimPooled` step observed.
public enum PooledClaimEvent: Sendable {
    /// Nothing claimable (or no pool): create as usual.
    case empty
    /// Another holder won the sandbox's claim.
    case lost(sandboxID: String)
    /// The claim-and-launch exec's answer (or its failure) in `sandboxID`.
    case ran(sandboxID: String, Result<ExecResult, SandboxLifecycleError>)
}

/// How `LaunchContext.sessionMetadata` reports failures (rule 33, session GET row).
public enum SessionMetadataError: Error, Sendable, Equatable {
    /// 404: the session is gone; the item is force-stopped without launching.
    case notFound
    /// 401/403 and other fatal answers (or `x-should-retry: false`).
    case fatal(String)
    /// Transport, timeout, 408, 409, 429, ≥500 (or `x-should-retry: true`): back off and retry.
    case transient(String, retryAfter: Duration?)
}

/// Where the sandbox in hand came from; it decides what a 404 or `failed` means.
public enum SandboxOrigin: Sendable, Equatable {
    case prepared, lookedUp, created
    /// Claimed from the warm pool: after the hand-off its pool tags give way to the session's.
    case pooled
}
