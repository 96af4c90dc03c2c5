/// What a launch asks of the side that owns the work item. The work queue and the
/// sandbox lifecycle may not import each other (both sit on APIClient only), so the
/// app implements this where they meet (`LaunchHandler`), and the launcher never
/// climbs back up a layer.
public protocol LaunchContext: Sendable {
    /// `GET /v1/sessions/{id}` → metadata (rule 11, third place), asked only when
    /// `work.metadata` and `work.data.metadata` carry no prepared id. Failures come
    /// already classified by the Anthropic classifier (rule 33, session GET row).
    func sessionMetadata(sessionID: String) async throws(SessionMetadataError) -> [String: String]

    /// The runner was not alive at the probe after the hand-off (rule 30): end the
    /// item visibly with a force-stop (rule 37). Called at most once per launch, from
    /// the launcher's after-hand-off task.
    func lateFailure(workID: String, sessionID: String, _ failure: LaunchFailure) async
}
