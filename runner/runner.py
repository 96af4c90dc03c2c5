#!/usr/bin/env python3
"""Serve one already-claimed Claude Managed Agents work item inside the sandbox.

The orchestrator polls and acks the item, then starts this script through
launch.sh with the item's identity in the environment (orchestrator rules 26-28):
ANTHROPIC_WORK_ID, ANTHROPIC_ENVIRONMENT_ID, ANTHROPIC_SESSION_ID and either
ANTHROPIC_WORK_SECRET or ANTHROPIC_ENVIRONMENT_KEY. The SDK worker reads those
itself; this script only builds the client and the worker.

- The client is built without an API key (rule 25): the worker authenticates every
  call with the item's sessions token (or the environment key), never an API key.
- `unrestricted_paths` is never passed: anthropic 2.10.0 raises TypeError for it.
- Secrets are never printed; only ids go to the log (stdout -> runner.log).
"""

import asyncio
import logging
import os
import sys

DEFAULT_WORKDIR = "/workspace"
DEFAULT_MAX_IDLE = 60.0

log = logging.getLogger("cma.runner")


def configured_workdir() -> str:
    return os.environ.get("CMA_AGENT_WORKDIR") or DEFAULT_WORKDIR


def configured_max_idle():
    """CMA_MAX_IDLE in seconds; "none" disables the idle ending (SDK: max_idle=None)."""
    raw = (os.environ.get("CMA_MAX_IDLE") or "").strip()
    if not raw:
        return DEFAULT_MAX_IDLE
    if raw.lower() == "none":
        return None
    value = float(raw)
    if value <= 0:
        raise ValueError("CMA_MAX_IDLE must be a positive number of seconds or 'none'")
    return value


def build_worker():
    """Builds the SDK worker exactly as the runner uses it (also used by tests)."""
    from anthropic import AsyncAnthropic

    base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
    # No api_key argument (rule 25); base_url only when the orchestrator passed one (rule 27).
    client = AsyncAnthropic(base_url=base_url) if base_url else AsyncAnthropic()
    workdir = configured_workdir()
    os.makedirs(workdir, exist_ok=True)
    return client.beta.environments.work.worker(workdir=workdir, max_idle=configured_max_idle())


async def serve() -> None:
    worker = build_worker()
    await worker.handle_item()


def main() -> int:
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ids = {
        "work.id": os.environ.get("ANTHROPIC_WORK_ID", ""),
        "session.id": os.environ.get("ANTHROPIC_SESSION_ID", ""),
        "environment.id": os.environ.get("ANTHROPIC_ENVIRONMENT_ID", ""),
        "credential": "work_secret" if os.environ.get("ANTHROPIC_WORK_SECRET") else (
            "environment_key" if os.environ.get("ANTHROPIC_ENVIRONMENT_KEY") else "none"),
    }
    log.info("runner starting %s", " ".join(f"{k}={v}" for k, v in ids.items()))
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        log.warning("runner interrupted")
        return 130
    except BaseException as exc:  # noqa: BLE001 - the exit code and log tail are the report
        # Type and message only: SDK errors carry status and message, never credentials.
        log.error("runner failed: %s: %s", type(exc).__name__, exc)
        return 1
    log.info("runner finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
