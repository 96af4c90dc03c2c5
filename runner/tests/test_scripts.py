"""Tests for launch.sh, probe.sh and stop.sh (orchestrator rules 29-31).

Real processes, a fake runner (CMA_RUNNER_ENTRY, launch.sh's test-only hook) so no
SDK is needed, and waits on conditions with deadlines instead of fixed sleeps.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_runner.py")


def wait_for(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def is_running(pid):
    """True while pid is a live, non-zombie process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class ScriptTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cma runner ")  # a space on purpose: scripts must quote
        for name in ("launch.sh", "probe.sh", "stop.sh", "runner.py"):
            shutil.copy(os.path.join(RUNNER_DIR, name), self.dir)
        shutil.copy(FAKE, os.path.join(self.dir, "fake_runner.py"))
        self.marker = os.path.join(self.dir, "marker")
        self.pids = []

    def tearDown(self):
        for pid in self.pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self, work_id="work_A", mode="run", **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CMA_", "FAKE_"))}
        env.update({
            "ANTHROPIC_WORK_ID": work_id,
            "CMA_RUNNER_ENTRY": "fake_runner.py",
            "FAKE_MODE": mode,
            "FAKE_MARKER": self.marker,
        })
        env.update(extra)
        return env

    def script(self, name, env=None, timeout=60):
        # start_new_session: like the sandbox's exec, the caller owns a process group.
        proc = subprocess.run(["sh", os.path.join(self.dir, name)], env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)
        return proc

    def launch(self, **kw):
        proc = self.script("launch.sh", env=self.env(**kw))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        out = json.loads(lines[0])
        self.assertIsInstance(out["pid"], int)
        self.pids.append(out["pid"])
        return out

    def probe(self):
        proc = self.script("probe.sh")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        return json.loads(lines[0])

    def starts(self):
        if not os.path.exists(self.marker):
            return []
        with open(self.marker) as f:
            return [line.split() for line in f.read().splitlines()]

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read()


class LaunchTests(ScriptTestCase):
    def test_launch_prints_a_pid_and_the_runner_runs_detached(self):
        out = self.launch()
        self.assertNotIn("already_running", out)
        starts = wait_for(self.starts, what="fake runner start")
        self.assertEqual(starts[0][0], "work_A")
        self.assertEqual(starts[0][2], "True", "stdin must be /dev/null")
        pid = out["pid"]
        self.assertTrue(is_running(pid))
        # setsid: the runner leads its own session, so the exec's group kill misses it (rule 29).
        self.assertEqual(os.getsid(pid), pid)
        self.assertEqual(os.getpgid(pid), pid)
        self.assertEqual(self.read(".runner.pid").strip(), str(pid))
        self.assertEqual(self.read(".runner.work").strip(), "work_A")
        wait_for(lambda: "fake runner started work=work_A" in self.read("runner.log"), what="runner.log line")

    def test_launch_without_a_work_id_fails_and_starts_nothing(self):
        env = self.env()
        del env["ANTHROPIC_WORK_ID"]
        proc = self.script("launch.sh", env=env)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("ANTHROPIC_WORK_ID", proc.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.dir, ".runner.pid")))

    def test_relaunch_for_the_same_work_id_reports_the_running_runner(self):
        first = self.launch()
        wait_for(self.starts, what="first start")
        second = self.launch()
        self.assertEqual(second, {"pid": first["pid"], "already_running": True})
        self.assertEqual(len(self.starts()), 1)
        self.assertTrue(is_running(first["pid"]))

    def test_launch_for_another_work_id_stops_the_old_runner_first(self):
        first = self.launch(work_id="work_A")
        wait_for(self.starts, what="first start")
        second = self.launch(work_id="work_B")
        self.assertNotEqual(second["pid"], first["pid"])
        self.assertNotIn("already_running", second)
        # The old runner is gone by the time launch.sh returns (stop before start).
        self.assertFalse(is_running(first["pid"]))
        starts = wait_for(lambda: len(self.starts()) == 2 and self.starts(), what="second start")
        self.assertEqual([s[0] for s in starts], ["work_A", "work_B"])
        self.assertEqual(self.read(".runner.work").strip(), "work_B")

    def test_launch_after_an_exited_runner_starts_a_new_one_and_clears_the_exit_file(self):
        self.launch(mode="exit3")
        wait_for(lambda: self.probe()["state"] == "exited", what="exit")
        out = self.launch(mode="run")
        self.assertNotIn("already_running", out)
        self.assertEqual(self.probe(), {"state": "running", "pid": out["pid"], "exit_code": None})


class ProbeTests(ScriptTestCase):
    def test_probe_states(self):
        cases = [
            ("run", {"state": "running", "exit_code": None}),
            ("exit0", {"state": "exited", "exit_code": 0}),
            ("exit3", {"state": "exited", "exit_code": 3}),
        ]
        for mode, expected in cases:
            with self.subTest(mode=mode):
                out = self.launch(mode=mode, work_id="work_" + mode)
                want = dict(expected, pid=out["pid"])
                wait_for(lambda: self.probe() == want, what="probe %s" % want)

    def test_probe_without_a_pid_file_says_no_pidfile(self):
        self.assertEqual(self.probe(), {"state": "no_pidfile", "pid": None, "exit_code": None})

    def test_probe_of_a_killed_runner_says_dead(self):
        out = self.launch()
        wait_for(self.starts, what="start")
        os.killpg(out["pid"], signal.SIGKILL)
        self.assertEqual(wait_for(lambda: (p := self.probe())["state"] == "dead" and p, what="dead"),
                         {"state": "dead", "pid": out["pid"], "exit_code": None})


class StopTests(ScriptTestCase):
    def stop(self, **env):
        proc = self.script("stop.sh", env=self.env(**env))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout.strip())

    def test_stop_terminates_the_process_group_with_sigterm(self):
        out = self.launch()
        starts = wait_for(self.starts, what="start")
        python_pid = int(starts[0][1])
        self.assertEqual(self.stop(), {"stopped": True, "pid": out["pid"], "signal": "TERM"})
        self.assertFalse(is_running(out["pid"]))
        wait_for(lambda: not is_running(python_pid), what="python child gone")
        self.assertEqual(self.probe()["state"], "dead")

    def test_stop_escalates_to_sigkill_after_the_grace_period(self):
        out = self.launch(mode="ignore_term")
        starts = wait_for(self.starts, what="start")
        python_pid = int(starts[0][1])
        began = time.monotonic()
        result = self.stop(CMA_STOP_GRACE_SECONDS="1")
        self.assertEqual(result, {"stopped": True, "pid": out["pid"], "signal": "KILL"})
        self.assertGreaterEqual(time.monotonic() - began, 0.9)
        wait_for(lambda: not is_running(python_pid), what="python child killed")

    def test_stop_without_a_runner_is_an_outcome(self):
        self.assertEqual(self.stop(), {"stopped": False, "pid": None, "signal": None})
        self.launch(mode="exit0")
        wait_for(lambda: self.probe()["state"] == "exited", what="exit")
        self.assertFalse(self.stop()["stopped"])


if __name__ == "__main__":
    unittest.main()
