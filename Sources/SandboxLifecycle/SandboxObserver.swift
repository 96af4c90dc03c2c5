import Foundation

/// Hears what the janitor and the launcher learn about a sandbox after the launch:
/// a probe's runner state and a pause. The app implements it (its status page's
/// session board) and hands it down through `SandboxActivity`, so this module never
/// imports the app (style: dependencies point down only).
public protocol SandboxObserver: Sendable {
    /// A probe read the runner's state (`running`, `exited`, …) at `date`.
    func runnerProbed(sandboxID: String, state: String, at date: Date)
    /// The janitor paused the sandbox (rule 43) at `date`.
    func sandboxPaused(sandboxID: String, at date: Date)
}
