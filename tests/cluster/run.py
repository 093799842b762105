#!/usr/bin/python3
"""run.py [PATTERN...] - the cluster suite: tests/integ/run.py's runner
(same output, same harness) over the test_*.py files of tests/cluster.
tests/cluster/run.sh starts what they need and runs this."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integ"))
sys.path.insert(0, HERE)

import importlib.util  # noqa: E402

# tests/integ/run.py under another name (this file is "run" too)
_spec = importlib.util.spec_from_file_location(
    "integ_run", os.path.join(os.path.dirname(HERE), "integ", "run.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

R.HERE = HERE  # discover() lists this folder

if __name__ == "__main__":
    sys.exit(R.main(sys.argv[1:]))
