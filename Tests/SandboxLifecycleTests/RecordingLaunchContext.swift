import Synchronization
@testable import SandboxLifecycle

/// A `LaunchContext` standing in for the work-queue side: it answers the session
/// read (rule 11) from a fixed result and records what the launcher asked of it,
/// including late failures (rules 30, 37).
final class RecordingLaunchContext: LaunchContext {
    private let answer: Result<[String: String], SessionMetadataError>
    let reads = Mutex(0)
    let failures = Mutex<[LaunchFailure]>([])
    /// The (work id, session id) of every late failure, in order.
    let lateFailureIDs = Mutex<[[String]]>([])

    init(sessionMetadata: [String: String] = [:]) {
        answer = .success(sessionMetadata)
    }

    init(sessionError: SessionMetadataError) {
        answer = .failure(sessionError)
    }

    func sessionMetadata(sessionID: String) async throws(SessionMetadataError) -> [String: String] {
        reads.withLock { $0 += 1 }
        return try answer.get()
    }

    func lateFailure(workID: String, sessionID: String, _ failure: LaunchFailure) async {
        lateFailureIDs.withLock { $0.append([workID, sessionID]) }
        failures.withLock { $0.append(failure) }
    }
}
