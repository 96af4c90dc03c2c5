import APIClient
import Foundation
import Logging
import Synchronization

/// What `/readyz` reports for the template check (rule 47).
public enum TemplateStatus: Sendable, Equatable {
    case checking
    case ready
    case notReady(reason: String)

    public var isReady: Bool { self == .ready }
    public var reason: String? {
        switch self {
        case .checking: "template check has not finished yet"
        case .ready: nil
        case .notReady(let reason): reason
        }
    }
}

/// Start-up template check (rule 47): the configured template must be listed
/// with `name_prefix` and be `ready`. Until it passes, `/readyz` answers 503 with
/// the reason and no work is claimed. Retries with backoff; never exits.
public final class TemplateCheck: Sendable {
    public let templateName: String
    let client: SuperserveClient
    let logger: Logger
    let sleeper: any Sleeper
    let backoff: Backoff
    let observer: (any LifecycleObserver)?
    /// The runner bundle version launches expect, and whether sandboxes made from the
    /// template are known to hold it (learned from launches; no Superserve answer
    /// names what a template's image contains). `older` is not a readiness failure:
    /// launches then carry the bundle in their exec, and `setup-template` bakes it.
    public let versions: RunnerVersions?
    private let state = Mutex(TemplateStatus.checking)

    /// `retryCap`: rule 34's cap for this loop (60 s, like the poll loop). `observer`
    /// hears every status change (readiness metrics follow the check, not `/readyz`).
    public init(client: SuperserveClient, templateName: String, logger: Logger,
                sleeper: any Sleeper = ContinuousSleeper(), retryCap: Duration = .seconds(60),
                observer: (any LifecycleObserver)? = nil, versions: RunnerVersions? = nil) {
        self.client = client
        self.templateName = templateName
        self.logger = logger
        self.sleeper = sleeper
        self.backoff = Backoff(cap: retryCap)
        self.observer = observer
        self.versions = versions
    }

    /// The bundle version the template should carry, if known to this check.
    public var expectedRunnerVersion: String? { versions?.current }
    /// Whether sandboxes made from the template hold `expectedRunnerVersion`.
    public var runnerVersionState: RunnerVersions.Template { versions?.template ?? .unknown }

    public var status: TemplateStatus {
        state.withLock { $0 }
    }

    /// Checks until the template is ready or the task is cancelled.
    public func run() async {
        var attempt = 0
        while !Task.isCancelled {
            let (status, hint) = await checkOnce()
            if status.isReady { return }
            let delay = backoff.delay(attempt: attempt, hint: hint)
            attempt += 1
            logger.warning("template.not_ready", metadata: [
                "template.name": "\(templateName)", "template.reason": "\(status.reason ?? "")",
                "retry.ms": "\(delay.milliseconds)",
            ])
            do { try await sleeper.sleep(for: delay) } catch { return }
        }
    }

    /// One check; updates and returns the status.
    @discardableResult
    public func check() async -> TemplateStatus {
        await checkOnce().0
    }

    private func checkOnce() async -> (TemplateStatus, Duration?) {
        let status: TemplateStatus
        var hint: Duration?
        do {
            let templates = try await client.listTemplates(namePrefix: templateName)
            if let template = templates.first(where: { $0.name == templateName }) {
                status = template.status == "ready"
                    ? .ready
                    : .notReady(reason: "template \(templateName) is \(template.status)"
                        + (template.errorMessage.map { ": \($0)" } ?? ""))
            } else {
                status = .notReady(reason: "template \(templateName) does not exist")
            }
        } catch {
            status = .notReady(reason: "template check failed: \(error)")
            hint = error.retryAfter
        }
        let changed = state.withLock { current in
            defer { current = status }
            return current != status
        }
        if changed { observer?.templateStatusChanged(status) }
        if status.isReady { logger.info("template.ready", metadata: ["template.name": "\(templateName)"]) }
        return (status, hint)
    }
}
