import Foundation
import HTTPWire

// Feeds each llhttp vector's raw bytes through parseHead + BodyDecoder the way the server
// will (pipelining, keep-alive, end of input = client half-close) and compares the
// outcome with the vector's `expect`. Usage: VectorJudge [--all] [--verbose] FILE.jsonl

enum Outcome { case rejected(HTTPParseError), closedAfterResponse, waiting, drained }

struct Simulation { var accepted = 0; var outcome = Outcome.drained }

func simulate(_ raw: [UInt8]) -> Simulation {
    var sim = Simulation()
    var buffer = raw[...]
    while !buffer.isEmpty {
        let head = Array(buffer).withUnsafeBytes { HTTPRequestParser.parseHead($0, limits: .default) }
        switch head {
        case .invalid(let e): sim.outcome = .rejected(e); return sim
        case .incomplete: sim.outcome = .waiting; return sim
        case .complete(let h, let consumed):
            buffer = buffer.dropFirst(consumed)
            var decoder = BodyDecoder(framing: h.framing, maxBodyBytes: HTTPLimits.default.maxBodyBytes, limits: .default)
            var body: [UInt8] = []
            switch Array(buffer).withUnsafeBytes({ decoder.decode($0, into: &body) }) {
            case .invalid(let e): sim.outcome = .rejected(e); return sim
            case .needMore: sim.outcome = .waiting; return sim
            case .done(let c): buffer = buffer.dropFirst(c)
            }
            sim.accepted += 1
            if !h.keepAlive { sim.outcome = .closedAfterResponse; return sim }
        }
    }
    return sim
}

var args = Array(CommandLine.arguments.dropFirst())
let all = args.contains("--all"), verbose = args.contains("--verbose")
args.removeAll { $0.hasPrefix("--") }
guard let path = args.first, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
    print("usage: VectorJudge [--all] [--verbose] FILE.jsonl"); exit(2)
}
var passed = 0, failed = 0, info = 0
var tally: [String: (Int, Int)] = [:]
for line in text.split(separator: "\n") {
    guard let v = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let b64 = v["raw_b64"] as? String, let data = Data(base64Encoded: b64) else { continue }
    if !all && (v["strict"] as? Bool) == false { continue }
    let expect = v["expect"] as? String ?? "?"
    let k = (v["messages"] as? Int) ?? (v["accepted_before_reject"] as? Int) ?? (v["accepted_before_wait"] as? Int) ?? 0
    let sim = simulate(Array(data))
    let ok: Bool?
    switch (expect, sim.outcome) {
    case ("accept", .rejected): ok = false
    case ("accept", _): ok = sim.accepted >= k
    case ("reject", .rejected), ("reject", .closedAfterResponse): ok = sim.accepted <= k
    case ("reject", _): ok = false
    case ("reject-or-close", .drained): ok = false
    case ("reject-or-close", _): ok = sim.accepted <= k   // waiting: the server closes at half-close
    case ("wait", .waiting): ok = sim.accepted <= k
    case ("wait", _): ok = false
    default: ok = nil
    }
    let title = v["title"] as? String ?? ""
    switch ok {
    case true?: passed += 1
    case false?: failed += 1
    case nil: info += 1
    }
    var t = tally[expect, default: (0, 0)]
    if ok == true { t.0 += 1 } else if ok == false { t.1 += 1 }
    tally[expect] = t
    if ok == false || (verbose && ok == nil) {
        print("\(ok == false ? "FAIL" : "INFO") [\(expect)] \(title) -> accepted \(sim.accepted), \(sim.outcome)")
    }
}
for (expect, t) in tally.sorted(by: { $0.key < $1.key }) { print("\(expect): \(t.0) passed, \(t.1) failed") }
print("\(passed) passed, \(failed) failed, \(info) informational")
