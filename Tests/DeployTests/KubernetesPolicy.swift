/// What the rendered Kubernetes objects must satisfy, as findings (empty = fine):
/// every container has liveness and readiness probes, CPU and memory limits, runs as
/// non-root on a read-only root filesystem without privilege escalation, and a
/// NetworkPolicy selects the pods with ingress only to their HTTP port and egress only
/// to TCP 443 and DNS. Objects are the JSON form of the rendered YAML.
enum KubernetesPolicy {
    typealias Object = [String: Any]

    static let workloadKinds: Set<String> = ["Deployment", "StatefulSet", "DaemonSet"]
    /// The only egress: HTTPS to the Anthropic and Superserve APIs, and DNS.
    static let egress: Set<String> = ["TCP/443", "UDP/53", "TCP/53"]

    static func findings(_ objects: [Object]) -> [String] {
        let workloads = objects.filter { workloadKinds.contains($0["kind"] as? String ?? "") }
        guard !workloads.isEmpty else { return ["no Deployment, StatefulSet or DaemonSet"] }
        let policies = objects.filter { $0["kind"] as? String == "NetworkPolicy" }
        return workloads.flatMap { containerFindings($0) + networkFindings($0, policies: policies) }
    }

    static func name(_ object: Object) -> String {
        "\(object["kind"] as? String ?? "?")/\(dig(object, "metadata", "name") as? String ?? "?")"
    }

    static func containerFindings(_ workload: Object) -> [String] {
        let pod = dig(workload, "spec", "template", "spec") as? Object ?? [:]
        let podNonRoot = dig(pod, "securityContext", "runAsNonRoot") as? Bool
        let containers = (pod["containers"] as? [Object] ?? []).map { ($0, true) }
            + (pod["initContainers"] as? [Object] ?? []).map { ($0, false) }
        if containers.isEmpty { return ["\(name(workload)): no containers"] }
        var out: [String] = []
        for (container, probed) in containers {
            let label = "\(name(workload)) container \(container["name"] as? String ?? "?")"
            if probed {
                for probe in ["livenessProbe", "readinessProbe"] where container[probe] == nil {
                    out.append("\(label): no \(probe)")
                }
            }
            for resource in ["cpu", "memory"] where dig(container, "resources", "limits", resource) == nil {
                out.append("\(label): no \(resource) limit")
            }
            let nonRoot = dig(container, "securityContext", "runAsNonRoot") as? Bool ?? podNonRoot
            if nonRoot != true { out.append("\(label): runAsNonRoot is not true") }
            if dig(container, "securityContext", "readOnlyRootFilesystem") as? Bool != true {
                out.append("\(label): readOnlyRootFilesystem is not true")
            }
            if dig(container, "securityContext", "allowPrivilegeEscalation") as? Bool != false {
                out.append("\(label): allowPrivilegeEscalation is not false")
            }
        }
        return out
    }

    static func networkFindings(_ workload: Object, policies: [Object]) -> [String] {
        let labels = dig(workload, "spec", "template", "metadata", "labels") as? [String: String] ?? [:]
        let selecting = policies.filter { policy in
            let selector = dig(policy, "spec", "podSelector", "matchLabels") as? [String: String] ?? [:]
            return !selector.isEmpty && selector.allSatisfy { labels[$0.key] == $0.value }
        }
        guard let policy = selecting.first else { return ["\(name(workload)): no NetworkPolicy selects its pods"] }
        let label = name(policy)
        var out: [String] = []
        let types = dig(policy, "spec", "policyTypes") as? [String] ?? []
        for type in ["Ingress", "Egress"] where !types.contains(type) {
            out.append("\(label): policyTypes lacks \(type)")
        }
        // The HTTP port, by number and by name.
        let containers = dig(workload, "spec", "template", "spec", "containers") as? [Object] ?? []
        let http = containers.flatMap { $0["ports"] as? [Object] ?? [] }.first { $0["name"] as? String == "http" }
        let httpPorts: Set<String> = ["TCP/http", "TCP/\(http?["containerPort"] as? Int ?? -1)"]
        let ingress = dig(policy, "spec", "ingress") as? [Object] ?? []
        if ingress.isEmpty { out.append("\(label): no ingress rule (the webhooks could not arrive)") }
        for ports in ingress.map(ports) {
            if ports.isEmpty || !ports.isSubset(of: httpPorts) {
                out.append("\(label): ingress to \(ports.isEmpty ? "every port" : ports.sorted().joined(separator: ", ")), not only the HTTP port")
            }
        }
        let egress = (dig(policy, "spec", "egress") as? [Object] ?? []).map(ports)
        for ports in egress where ports.isEmpty || !ports.isSubset(of: Self.egress) {
            out.append("\(label): egress to \(ports.isEmpty ? "every port" : ports.sorted().joined(separator: ", ")) beyond TCP 443 and DNS")
        }
        let allowed = egress.reduce(into: Set<String>()) { $0.formUnion($1) }
        for missing in Self.egress.subtracting(allowed).sorted() {
            out.append("\(label): egress lacks \(missing)")
        }
        return out
    }

    /// A rule's ports as `PROTOCOL/port` (TCP when the protocol is left out).
    static func ports(_ rule: Object) -> Set<String> {
        Set((rule["ports"] as? [Object] ?? []).map { port in
            "\(port["protocol"] as? String ?? "TCP")/\(port["port"].map { "\($0)" } ?? "*")"
        })
    }

    static func dig(_ object: Any?, _ path: String...) -> Any? {
        path.reduce(object) { ($0 as? Object)?[$1] }
    }
}
