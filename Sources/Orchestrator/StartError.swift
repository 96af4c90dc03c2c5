/// What can stop start-up; the CLI exits 2 for configuration problems, 1 otherwise.
public enum StartError: Error, CustomStringConvertible {
    case configuration(Configuration.Error)
    case server(String)
    case runner(String)
    case emulators(String)

    public var description: String {
        switch self {
        case .configuration(let e): "configuration: \(e)"
        case .server(let why): "cannot start the HTTP server: \(why)"
        case .runner(let why): "cannot load the runner bundle: \(why)"
        case .emulators(let why): "cannot start the emulators: \(why)"
        }
    }
}
