// Module Orchestrator: see README Layout.
