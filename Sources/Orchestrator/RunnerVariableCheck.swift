import Foundation
import SandboxLifecycle

/// Runner variable names a profile may not set: the runner's own `ANTHROPIC_*`
/// variables (rule 26) and the credentials rule 27 keeps out, the `CMA_*` variables
/// launch.sh and runner.py read, and names the shell treats specially.
public enum RunnerVariableCheck {
    public static func problem(_ name: String) -> String? {
        guard isName(name) else { return "is not a valid variable name (letters, digits, _)" }
        if RunnerEnvironment.forbidden.contains(name) {
            return "is a credential rule 27 keeps out of every sandbox"
        }
        if name.hasPrefix("ANTHROPIC_") {
            return "would shadow the runner's own ANTHROPIC_* variables (rules 26, 27)"
        }
        if name.hasPrefix("CMA_") { return "would shadow the runner's own CMA_* settings" }
        if ["PATH", "HOME", "PWD", "SHELL", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME"].contains(name) {
            return "would change how the runner itself starts"
        }
        return nil
    }
}

extension RunnerVariableCheck {
    /// Letters, digits and `_`, not starting with a digit.
    static func isName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}
