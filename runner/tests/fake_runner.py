"""Stand-in for runner.py in script tests (selected with CMA_RUNNER_ENTRY).

FAKE_MODE: run (default: stay alive until signalled), exit0, exit3,
ignore_term (stay alive and ignore SIGTERM). It appends one line per start to
$FAKE_MARKER (work id, pid, whether stdin is at EOF) so tests can wait on it.
"""
import os
import signal
import sys
import time

mode = os.environ.get("FAKE_MODE", "run")
marker = os.environ.get("FAKE_MARKER")
stdin_eof = sys.stdin.read() == ""
print("fake runner started work=%s" % os.environ.get("ANTHROPIC_WORK_ID", ""), flush=True)
if mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if marker:
    with open(marker, "a") as f:
        f.write("%s %d %s\n" % (os.environ.get("ANTHROPIC_WORK_ID", ""), os.getpid(), stdin_eof))
if mode == "exit0":
    sys.exit(0)
if mode == "exit3":
    print("fake runner failing on purpose", flush=True)
    sys.exit(3)
deadline = time.monotonic() + float(os.environ.get("FAKE_LIFETIME", "120"))
while time.monotonic() < deadline:
    time.sleep(0.1)
