#!/usr/bin/python3
"""run.py [PATTERN...] - run warren's integration tests.

Imports tests/integ/test_*.py in name order and runs each module-level
function named test_* in file order, each under a time limit (120 s, or the
function's `timeout` attribute, see harness.timeout). PATTERNs are substrings
matched against "module.function" (e.g. test_worker or test_tasker.test_413);
with none, everything runs. Prints "ok   name (1.2s)" or "FAIL name: reason"
with the traceback, and as the very last line "N passed, N failed". Exit
status 0 only when nothing failed.

The broker and nginx: tests/run.sh starts them and sets WARREN_TEST_ENV_READY;
run directly, this script starts them (tests/env/broker.sh, nginx.sh) when they
are not up and stops at exit those it started. See harness.py for the API.
"""

import ast
import importlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import harness  # noqa: E402

DEFAULT_TIMEOUT = 120


class TestTimeout(BaseException):
    """Raised in the test by SIGALRM; a BaseException so that a test's own
    `except Exception` does not swallow it."""


def _alarm(signum, frame):
    raise TestTimeout()


def _env_script(name, action):
    env = dict(os.environ)
    env["WARREN_TEST_PORT_BASE"] = str(harness.ENV.port_base)
    env["WARREN_TEST_ENV"] = harness.ENV.state
    return subprocess.run(["sh", os.path.join(ROOT, "tests", "env", name),
                           action], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def start_env():
    """Start broker and nginx when not running; return what we started."""
    started = []
    for script in ("broker.sh", "nginx.sh"):
        if _env_script(script, "status").returncode == 0:
            if script == "nginx.sh":
                _env_script(script, "start")  # refreshes config and env files
            continue
        r = _env_script(script, "start")
        if r.returncode != 0:
            sys.stdout.write(r.stdout.decode() + r.stderr.decode())
            raise SystemExit("run.py: could not start %s" % script)
        started.append(script)
    return started


def stop_env(started):
    for script in reversed(started):
        _env_script(script, "stop")


def _test_names(path):
    """Names of the module-level test_* functions in a file, without
    importing it (so a filter does not import unrelated modules)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    return [n.name for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


def discover(patterns):
    """[(module name, module or import traceback, [functions])] selected."""
    out = []
    names = sorted(f[:-3] for f in os.listdir(HERE)
                   if f.startswith("test_") and f.endswith(".py"))
    for modname in names:
        if patterns:
            try:
                fnames = _test_names(os.path.join(HERE, modname + ".py"))
            except SyntaxError:
                fnames = None  # import it: the error is reported below
            if fnames is not None and not any(
                    p in "%s.%s" % (modname, f) for f in fnames for p in patterns):
                continue
        try:
            mod = importlib.import_module(modname)
        except BaseException:
            out.append((modname, traceback.format_exc(), []))
            continue
        funcs = [f for n, f in vars(mod).items()
                 if n.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == modname]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        if patterns:
            funcs = [f for f in funcs
                     if any(p in "%s.%s" % (modname, f.__name__) for p in patterns)]
        if funcs:
            out.append((modname, mod, funcs))
    return out


def run_one(fn, name, limit):
    """Run fn under a time limit; None when it passed, else (reason, tb)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        fn()
        return None
    except TestTimeout:
        return ("timed out after %gs" % limit, traceback.format_exc())
    except AssertionError as e:
        return (str(e).split("\n")[0] or "assertion failed", traceback.format_exc())
    except (Exception, SystemExit) as e:
        return ("%s: %s" % (type(e).__name__, str(e).split("\n")[0]),
                traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def report_fail(name, reason, tb):
    print("FAIL %s: %s" % (name, reason), flush=True)
    for line in tb.rstrip().splitlines():
        print("    " + line)
    sys.stdout.flush()


def clear_logs(logs):
    """Remove the per-test folders of the previous run (logs, downloads);
    they stay for a person to read until the next run."""
    os.makedirs(logs, exist_ok=True)
    for name in os.listdir(logs):
        path = os.path.join(logs, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _terminate(signum, frame):
    raise KeyboardInterrupt()


def main(argv):
    # SIGTERM (make or tests/run.sh stopping us) cleans up like Ctrl-C:
    # the programs the tests started run in their own sessions.
    signal.signal(signal.SIGTERM, _terminate)
    patterns = [a for a in argv if not a.startswith("-")]
    started = []
    if not os.environ.get("WARREN_TEST_ENV_READY"):
        started = start_env()
    clear_logs(harness.ENV.logs)
    try:
        # programs started before any helper declared find the queues as
        # they declare them, not an older version's left on the node
        harness.declare_topology()
        # control messages (a pause, a rate) of an earlier run would reach
        # this run's workers, which read the stream from its first
        harness.purge("warren.control")
    except Exception as e:  # the tests that need the broker will say
        print("run.py: cannot declare the topology: %s" % e)
    passed = failed = 0
    module_objs = []
    try:
        for modname, mod, funcs in discover(patterns):
            if isinstance(mod, str):  # import error
                failed += 1
                report_fail(modname, "import failed", mod)
                continue
            setup_error = None
            setup = getattr(mod, "setup_module", None)
            if setup:
                harness.CURRENT_TEST = modname + ".setup_module"
                setup_error = run_one(setup, harness.CURRENT_TEST,
                                      getattr(setup, "timeout", DEFAULT_TIMEOUT))
            # What setup_module started serves all the module's tests.
            module_objs = harness.detach()
            for fn in funcs:
                name = "%s.%s" % (modname, fn.__name__)
                if setup_error:
                    failed += 1
                    report_fail(name, "setup_module: " + setup_error[0],
                                setup_error[1])
                    continue
                harness.CURRENT_TEST = name
                t0 = time.monotonic()
                res = run_one(fn, name, getattr(fn, "timeout", DEFAULT_TIMEOUT))
                problems = harness.cleanup()
                if res is None and problems:
                    res = (problems[0].split("\n")[0], "\n".join(problems))
                dt = time.monotonic() - t0
                if res is None:
                    passed += 1
                    print("ok   %s (%.1fs)" % (name, dt), flush=True)
                else:
                    failed += 1
                    report_fail(name, res[0], res[1])
            teardown = getattr(mod, "teardown_module", None)
            if teardown:
                harness.CURRENT_TEST = modname + ".teardown_module"
                res = run_one(teardown, harness.CURRENT_TEST, DEFAULT_TIMEOUT)
                problems = harness.cleanup()
                if res is None and problems:
                    res = (problems[0].split("\n")[0], "\n".join(problems))
                if res is not None:
                    failed += 1
                    report_fail(harness.CURRENT_TEST, res[0], res[1])
            problems = harness.cleanup(module_objs)
            if problems:
                failed += 1
                report_fail(modname + ".setup_module", problems[0].split("\n")[0],
                            "\n".join(problems))
    except KeyboardInterrupt:
        harness.cleanup()
        harness.cleanup(module_objs)
        print("interrupted", flush=True)
        failed += 1
    finally:
        stop_env(started)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
