print("cma-orchestrator")
