/// Hooks for metrics on the janitor and the template check, implemented by the app
/// (the lower module cannot know the app's metrics). Every argument is a bounded
/// label value: no sandbox or session id reaches an observer.
public protocol LifecycleObserver: Sendable {
    /// One janitor sweep ended; `listed` is false when the sandbox list failed and
    /// the sweep could look at nothing (rule 44).
    func janitorSwept(listed: Bool)
    /// The janitor tried to pause a sandbox whose runner was not running.
    func janitorPause(_ trigger: PauseTrigger, paused: Bool)
    /// The template check has a new answer (rule 47).
    func templateStatusChanged(_ status: TemplateStatus)
}

/// Why the janitor looked at a sandbox.
public enum PauseTrigger: String, Sendable, CaseIterable {
    /// The periodic sweep found it idle (rule 44).
    case idle
    /// A session went idle and the runner's `max_idle` plus a margin passed (rule 43).
    case maxIdle = "max_idle"
    /// A create or activate met `too_many_sandboxes`; room was made for waiting launches.
    case quota
}
