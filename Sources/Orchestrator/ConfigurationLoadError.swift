import Foundation

/// A configuration error from the file (field and line) or from a variable (its name).
public enum ConfigurationLoadError: Error, Sendable, CustomStringConvertible {
    case file(ConfigFile.Error)
    case variables(Configuration.Error)

    public var description: String {
        switch self {
        case .file(let error): "\(error)"
        case .variables(let error): "\(error)"
        }
    }
}
