// Module SandboxLifecycle: see README Layout.
