# -*- coding: utf-8 -*-
"""A stand-in for Salt's loader, as far as the state module qfw uses it.

Salt cannot be installed where these tests run, so this loads
_states/qfw.py the way Salt's loader does (salt/loader), against Salt's
documented state-module contract:

- the module's __virtual__ returns the name it loads under;
- the loader injects __opts__ (with "test", True under test=True) and
  __salt__, the execution modules; qfw.applied calls only cmd.run_all;
- a state function takes the state's ID as name and its arguments as
  keywords, and returns a dict with exactly the keys name, changes (a
  dict), result (True, False, or None in test mode for changes that would
  be made) and comment (a string).

cmd.run_all is Salt's salt/modules/cmdmod.py run_all as qfw.applied calls
it: a list command with python_shell=False runs without a shell; env is
added to the environment; rstrip=False keeps the output as is; the return
holds pid, retcode, stdout and stderr; a program that cannot be started
raises CommandExecutionError.

Run as a program, it reads {"test": bool, "name": ID, "kwargs": {...}}
as JSON from its standard input, calls qfw.applied and prints the return
dict as JSON, or exits 1 naming the rule of the contract it broke.
"""

from __future__ import print_function

import importlib.util
import json
import os
import subprocess
import sys

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_states", "qfw.py")


class CommandExecutionError(Exception):
    """salt.exceptions.CommandExecutionError."""


def run_all(cmd, cwd=None, stdin=None, python_shell=None, env=None, clean_env=False, rstrip=True,
            ignore_retcode=False, **kwargs):
    """salt.modules.cmdmod.run_all, for a command given as a list."""
    if kwargs:
        raise TypeError("cmd.run_all: arguments this stand-in does not know: %s" % ", ".join(sorted(kwargs)))
    if python_shell or not isinstance(cmd, list):
        raise CommandExecutionError("the tests run commands as lists, without a shell")
    environ = {} if clean_env else dict(os.environ)
    environ.update(env or {})
    try:
        p = subprocess.Popen(cmd, cwd=cwd, env=environ, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise CommandExecutionError("Unable to run command %r with the context %r, reason: %s" % (cmd, {}, e))
    out, err = p.communicate((stdin or "").encode())
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if rstrip:
        out, err = out.rstrip(), err.rstrip()
    return {"pid": p.pid, "retcode": p.returncode, "stdout": out, "stderr": err}


def load(test=False, salt=None):
    """Loads the state module as Salt's loader does, with __opts__ and
    __salt__ injected; salt replaces the execution modules."""
    spec = importlib.util.spec_from_file_location("salt.loaded.ext.states.qfw", STATE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    name = mod.__virtual__()
    if name is not True and name != "qfw":
        raise AssertionError("__virtual__ returned %r; want the name qfw" % (name,))
    mod.__opts__ = {"test": test, "id": "dom0", "file_client": "local"}
    mod.__salt__ = salt if salt is not None else {"cmd.run_all": run_all}
    return mod


def check(ret, name, test):
    """Checks a state's return against the contract, raising AssertionError."""
    if not isinstance(ret, dict):
        raise AssertionError("the state returned %r; want a dict" % (ret,))
    if sorted(ret) != ["changes", "comment", "name", "result"]:
        raise AssertionError("the state returned the keys %s; want changes, comment, name, result" % sorted(ret))
    if ret["name"] != name:
        raise AssertionError("name is %r; want the state's ID %r" % (ret["name"], name))
    if not isinstance(ret["changes"], dict):
        raise AssertionError("changes is %r; want a dict" % (ret["changes"],))
    if not isinstance(ret["comment"], str):
        raise AssertionError("comment is %r; want a string" % (ret["comment"],))
    if ret["result"] not in (True, False, None):
        raise AssertionError("result is %r; want True, False or None" % (ret["result"],))
    if ret["result"] is None and not (test and ret["changes"]):
        raise AssertionError("result is None; only test mode, with changes to make, says so")
    if "Traceback" in ret["comment"]:
        raise AssertionError("the comment holds a traceback:\n%s" % ret["comment"])
    json.dumps(ret)  # the return goes to the master, or qubesctl's output, as JSON


def main():
    req = json.load(sys.stdin)
    name = req.get("name", "qfw-policy")
    mod = load(test=req.get("test", False))
    ret = mod.applied(name, **req.get("kwargs", {}))
    try:
        check(ret, name, req.get("test", False))
    except AssertionError as e:
        print("qfw.applied broke the state contract: %s" % e, file=sys.stderr)
        return 1
    json.dump(ret, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
