# -*- coding: utf-8 -*-
"""Tests of the state qfw.applied that need no qubesd: its example files,
its arguments, and its failures, each against Salt's state contract (see
saltloader.py). The Go test in dist/ runs them, with QFW_TEST_QFW naming a
qfw it built, and runs the state against a fake qubesd."""

import inspect
import os
import shutil
import tempfile
import unittest

import yaml

import saltloader

SALT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Recorder(object):
    """cmd.run_all, recording its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, cmd, **kwargs):
        self.calls.append((cmd, kwargs))
        return saltloader.run_all(cmd, **kwargs)


def apply_state(test=False, **kwargs):
    rec = Recorder()
    mod = saltloader.load(test=test, salt={"cmd.run_all": rec})
    ret = mod.applied("qfw-policy", **kwargs)
    saltloader.check(ret, "qfw-policy", test)
    return ret, rec.calls


class ExampleFiles(unittest.TestCase):
    def test_init_sls(self):
        with open(os.path.join(SALT, "qfw", "init.sls")) as f:
            sls = yaml.safe_load(f)
        self.assertEqual(list(sls), ["qfw-policy"])
        args = sls["qfw-policy"]["qfw.applied"]
        params = inspect.signature(saltloader.load().applied).parameters
        for arg in args:
            (key, value), = arg.items()
            self.assertIn(key, params, "init.sls gives %s, which qfw.applied does not take" % key)
        self.assertEqual(args[0], {"policy": "/usr/share/org-qfw/policy"})

    def test_top(self):
        with open(os.path.join(SALT, "qfw.top")) as f:
            self.assertEqual(yaml.safe_load(f), {"base": {"dom0": ["qfw"]}})


class Arguments(unittest.TestCase):
    """Arguments that do not go together fail before qfw runs."""

    def test_refused(self):
        cases = [
            ({}, "give one of policy and plan"),
            ({"policy": "/p", "plan": "/p.json"}, "give one of policy and plan"),
            ({"plan": "/p.json", "out": "/o.json"}, "out, qube, inventory and skip_tests are for policy; a saved plan is applied whole"),
            ({"policy": "/p", "socket": "/s", "qrexec": True}, "socket is for dom0, qrexec for a management qube: give one"),
            ({"policy": "/p", "qrexec_client": "/c"}, "qrexec_client goes with qrexec"),
        ]
        for kwargs, comment in cases:
            for test in (True, False):
                ret, calls = apply_state(test=test, **kwargs)
                self.assertEqual((ret["result"], ret["comment"], ret["changes"], calls), (False, comment, {}, []), kwargs)


class Failures(unittest.TestCase):
    """qfw's failures are the state's: result False, qfw's message, no
    traceback."""

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def test_no_program(self):
        for test in (True, False):
            ret, _ = apply_state(test=test, policy=self.dir, executable="/nonexistent/qfw")
            self.assertFalse(ret["result"])
            self.assertTrue(ret["comment"].startswith("qfw: cannot run /nonexistent/qfw: Unable to run command"), ret["comment"])

    def test_silent_failure(self):
        ret, _ = apply_state(policy=self.dir, executable=shutil.which("false"))
        self.assertEqual((ret["result"], ret["comment"]), (False, "qfw exited 1 without a message"))

    def test_unreadable_plan(self):
        path = os.path.join(self.dir, "plan.json")
        ret, calls = apply_state(test=True, plan=path)
        self.assertEqual((ret["result"], ret["comment"], calls), (False, "plan %s: No such file or directory" % path, []))
        with open(path, "w") as f:
            f.write("{")
        ret, _ = apply_state(test=True, plan=path)
        self.assertFalse(ret["result"])
        self.assertTrue(ret["comment"].startswith("plan %s: not a plan qfw saved: " % path), ret["comment"])

    def test_policy_does_not_check(self):
        qfw = os.environ.get("QFW_TEST_QFW")
        if not qfw:
            self.fail("QFW_TEST_QFW names no qfw; go test ./dist builds one and runs these tests")
        with open(os.path.join(self.dir, "policy.cue"), "w") as f:
            f.write('package policy\n\nqubes: work: allow: web: {to: "any", tcp: [70000]}\n')
        with open(os.path.join(self.dir, "inventory.json"), "w") as f:
            f.write('{"qubes": {"sys-net": {"ip": "10.137.0.5", "provides_network": true}, "work": {"ip": "10.137.0.11", "netvm": "sys-net"}}}\n')
        want = '%s/policy.cue:3:44: qubes.work.allow.web: port "70000" is out of range; ports are 0 to 65535' % self.dir
        for test in (True, False):
            ret, calls = apply_state(test=test, policy=self.dir, executable=qfw, socket=os.path.join(self.dir, "no-qubesd"))
            self.assertEqual((ret["result"], ret["comment"], ret["changes"]), (False, want, {}))
            # Only the plan ran, as a list, without a shell.
            self.assertEqual(len(calls), 1)
            cmd, kwargs = calls[0]
            self.assertEqual(cmd[:2], [qfw, "plan"])
            self.assertIs(kwargs["python_shell"], False)


if __name__ == "__main__":
    unittest.main()
