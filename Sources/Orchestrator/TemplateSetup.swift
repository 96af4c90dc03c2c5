import APIClient
import Foundation
import JSON
import Logging
import SandboxLifecycle

/// `cma-orchestrator setup-template`: builds the runner template (rule 47: create,
/// then poll the build every 2 s until `ready`; `failed` and `cancelled` are errors).
public enum TemplateSetup {
    /// The template body of superserve.md §6: Python with the runner's SDK, procps for
    /// the probe, and the runner and agent folders. With `bundle`, the runner bundle is
    /// baked in with its version (`.bundle-version`), so a launch in a sandbox made
    /// from this template sends no bundle at all (rule 24 as amended).
    public static func body(name: String, runnerDirectory: String, agentWorkdir: String, bundle: RunnerBundle? = nil) -> Data {
        var steps = [
            #"{"run":"apt-get update && apt-get install -y --no-install-recommends procps && rm -rf /var/lib/apt/lists/*"}"#,
            #"{"run":"pip install --no-cache-dir 'anthropic==2.10.0'"}"#,
            #"{"run":"# + JSONEscape.quoted("mkdir -p \(runnerDirectory) \(agentWorkdir) /mnt/session/outputs") + "}",
        ]
        if let bundle { steps.append(#"{"run":"# + JSONEscape.quoted(bakeCommand(bundle, runnerDirectory: runnerDirectory)) + "}") }
        steps.append(#"{"workdir":"# + JSONEscape.quoted(agentWorkdir) + "}")
        let text = #"{"name":"# + JSONEscape.quoted(name) + #","vcpu":2,"memory_mib":2048,"build_spec":{"from":"python:3.12-slim","steps":["#
            + steps.joined(separator: ",") + "]}}"
        return Data(text.utf8)
    }

    /// The build step that unpacks the bundle into the runner directory and records its
    /// version where the launch exec looks (`RunnerEnvironment.launchCommand`). Base64
    /// holds no quote, so single quotes are safe.
    public static func bakeCommand(_ bundle: RunnerBundle, runnerDirectory dir: String) -> String {
        "printf %s '\(bundle.base64)' | base64 -d | tar -xf - -C \(dir) && printf '%s\\n' \(bundle.version) > \(dir)/.bundle-version"
    }

    /// Reads only what the build needs: `SUPERSERVE_API_KEY`, `SUPERSERVE_BASE_URL`,
    /// `CMA_TEMPLATE`, `CMA_RUNNER_REMOTE_DIR`, `CMA_AGENT_WORKDIR`.
    public struct Plan: Sendable {
        let superserve: SuperserveConfiguration
        let launcher: LauncherConfiguration
        /// The runner bundle baked into the template (`CMA_RUNNER_DIR`, else `./runner`
        /// when present); nil builds the template without it.
        var bundle: RunnerBundle? = nil
    }

    public static func plan(environment: [String: String]) throws(Configuration.Error) -> Plan {
        let reader = EnvironmentReader(environment)
        let key = try reader.required("SUPERSERVE_API_KEY")
        let (control, data) = try Configuration.superserveURLs(reader, apiKey: key)
        let superserve = SuperserveConfiguration(controlPlaneURL: control, dataPlaneURL: data, apiKey: key)
        var launcher = LauncherConfiguration()
        launcher.template = reader.string("CMA_TEMPLATE") ?? launcher.template
        launcher.runnerDirectory = reader.string("CMA_RUNNER_REMOTE_DIR") ?? launcher.runnerDirectory
        launcher.agentWorkdir = reader.string("CMA_AGENT_WORKDIR") ?? launcher.agentWorkdir
        var bundle: RunnerBundle?
        if let source = reader.string("CMA_RUNNER_DIR") {
            do { bundle = try RunnerBundle.load(from: URL(fileURLWithPath: source)) } catch {
                throw Configuration.Error("CMA_RUNNER_DIR", "must name the folder holding runner.py (the repository's runner/)")
            }
        } else {
            bundle = try? RunnerBundle.load(from: URL(fileURLWithPath: "runner"))
        }
        return Plan(superserve: superserve, launcher: launcher, bundle: bundle)
    }

    public static func run(_ plan: Plan, transport: any HTTPTransport = URLSessionTransport(),
                           logger: Logging.Logger) async throws -> (name: String, id: String, status: String, runnerVersion: String?) {
        let launcher = plan.launcher
        let client = SuperserveClient(configuration: plan.superserve, transport: transport, logger: logger)
        let name = launcher.template
        if let existing = try await client.listTemplates(namePrefix: name).first(where: { $0.name == name }),
           existing.status == "ready" {
            return (existing.name, existing.id, existing.status, nil)
        }
        let built = try await client.buildTemplate(body: body(name: name, runnerDirectory: launcher.runnerDirectory,
                                                              agentWorkdir: launcher.agentWorkdir, bundle: plan.bundle))
        logger.info("template.runner_baked", metadata: ["runner.version": "\(plan.bundle?.version ?? "none")"])
        return (built.name, built.id, built.status, plan.bundle?.version)
    }
}
