# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""
Salt state qfw.applied: put a qfw firewall policy in force in dom0.

A thin wrapper over the qfw command: it plans the policy against the lists
qubesd holds (``qfw plan --detailed-exitcode --out FILE``) and applies
exactly that plan (``qfw apply --plan FILE --auto-approve``). Every
decision is qfw's: what the policy compiles to, what changes, whether a
saved plan still holds.

.. code-block:: yaml

    qfw-policy:
      qfw.applied:
        - policy: /usr/share/org-qfw/policy

With ``test=True`` (``qubesctl state.apply qfw test=True``) it only plans:
``result`` is None and ``changes`` holds the plan's changes when there are
any, as Qubes' qvm.* states report, and True with no changes when there are
none. A real run applies the plan it made; a policy that does not check, a
stale plan, a list edited outside qfw with ``refuse_drift``, or a Set that
qubesd refuses gives ``result: False`` with qfw's own message in
``comment``.

Arguments (each a qfw flag of the same name):

policy
    The policy: a directory of CUE files, or a list of files.
plan
    A plan saved by ``qfw plan --out`` (or by ``out``), to apply exactly as
    it shows; instead of ``policy``. In test mode it is shown, not checked
    against dom0.
out
    Keep the plan made from ``policy`` in this file, in test mode too, to
    apply it later with ``plan``.
inventory, qube, skip_tests
    ``--inventory``, ``--qube``, ``--skip-tests`` of qfw plan.
socket, qrexec, qrexec_client, data_dir, kernels_dir
    How qfw reaches the Admin API and where it keeps its record.
lock, refuse_drift
    ``--lock`` and ``--refuse-drift`` of qfw apply.
executable
    The qfw program, ``qfw`` by default.
"""

from __future__ import absolute_import, print_function, unicode_literals

import json
import os
import shutil
import tempfile

__virtualname__ = "qfw"

# qfw's exit codes: plan --detailed-exitcode exits 2 when the plan
# changes something.
EXIT_OK, EXIT_CHANGES = 0, 2

# The words that end a row of apply's result table for a qube it left as
# it was.
UNCHANGED_RESULTS = ("unchanged", "not tagged", "still managed")


def __virtual__():
    return __virtualname__


class _Failed(Exception):
    """qfw failed; the message is qfw's, as qfw said it."""

    def __init__(self, msg, changes=None):
        super(_Failed, self).__init__(msg)
        self.msg = msg
        self.changes = changes or {}


def _call(args):
    """Runs qfw through cmd.run_all, without a shell, and returns its exit
    code and output."""
    try:
        out = __salt__["cmd.run_all"](args, python_shell=False, ignore_retcode=True, rstrip=False)
    except Exception as e:  # Salt raises CommandExecutionError when it cannot start the program.
        raise _Failed("qfw: cannot run %s: %s" % (args[0], e))
    return out.get("retcode"), out.get("stdout") or "", out.get("stderr") or ""


def _message(rc, stdout, stderr):
    """Returns what qfw said of its failure: its standard error, or a word
    on its exit if it said nothing."""
    msg = stderr.strip()
    if not msg:
        msg = "qfw exited %s without a message" % rc
        if stdout.strip():
            msg += ": " + stdout.strip()
    return msg


def _run(args, ok=(EXIT_OK,)):
    """Runs qfw and returns its exit code and output; an exit code not in
    ok raises _Failed with what qfw said."""
    rc, stdout, stderr = _call(args)
    if rc not in ok:
        raise _Failed(_message(rc, stdout, stderr))
    return rc, stdout, stderr


def _warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("qfw: warning: ") or line.startswith("qfw: note: ")]


def _admin_args(qrexec, qrexec_client, socket, data_dir, kernels_dir):
    args = []
    if qrexec:
        args.append("--qrexec")
        if qrexec_client:
            args += ["--qrexec-client", qrexec_client]
    elif socket:
        args += ["--socket", socket]
    if data_dir:
        args += ["--data-dir", data_dir]
    if kernels_dir:
        args += ["--kernels-dir", kernels_dir]
    return args


def _read_plan(path):
    """Reads a plan qfw saved. qfw checks it before applying it; the state
    only shows it."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (IOError, OSError) as e:
        raise _Failed("plan %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise _Failed("plan %s: not a plan qfw saved: %s" % (path, e))


def _changes(plan):
    """Returns, by qube, what the plan changes: a changed qube's list
    before and after (old, new), the tag qfw-managed it gets, the steps
    that provision a unikernel firewall qube and the image it installs."""
    changes = {}
    for q in plan.get("qubes") or []:
        c = {}
        if q.get("changed"):
            c["old"] = [e["line"] for e in q.get("edits", []) if e.get("op") in ("~", "-")]
            c["new"] = list(q.get("rules", []))
        if q.get("mark"):
            c["tag"] = "qfw-managed"
        if c:
            changes[q["name"]] = c
    for fw in plan.get("firewalls") or []:
        c = {}
        steps = [s.get("text", "") for s in fw.get("steps") or []]
        if steps:
            c["provision"] = steps
        k = fw.get("kernel")
        if k and (k.get("install") or k.get("dom0_step")):
            c["kernel"] = k.get("dom0_step") or "install %s into %s" % (k.get("path"), k.get("target"))
        if c:
            changes.setdefault(fw["name"], {}).update(c)
    return changes


def _works(plan):
    """Reports whether applying the plan changes anything, as qfw's summary
    counts it: lists to set, firewall qubes to provision, qubes to tag."""
    s = plan.get("summary") or {}
    return any(s.get(k, 0) > 0 for k in ("change", "provision", "mark"))


def _left(stdout):
    """Returns the lines of qfw's plan output on the qubes that left the
    policy, whose lists qfw keeps until told what to do with them."""
    return [line for line in stdout.splitlines() if ": left the policy; " in line]


def _summary(stdout):
    for line in stdout.splitlines():
        if line.startswith("Plan: ") or line.startswith("No changes: "):
            return line
    return ""


def _results(stdout):
    """Returns qfw apply's final table (QUBE RESULT) as a dict."""
    results = {}
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.split() == ["QUBE", "RESULT"]:
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                name, _, result = row.partition(" ")
                results[name] = result.strip()
    return results


def _table(results):
    return "\n".join("%s: %s" % (q, r) for q, r in sorted(results.items()))


def applied(name, policy=None, plan=None, out=None, inventory=None, qube=None, skip_tests=False,
            socket=None, qrexec=False, qrexec_client=None, data_dir=None, lock=None,
            refuse_drift=False, kernels_dir=None, executable="qfw"):
    """
    Put a qfw policy in force: plan it, and apply exactly that plan (see
    the module's documentation).
    """
    ret = {"name": name, "changes": {}, "result": False, "comment": ""}
    if isinstance(policy, str):
        policy = [policy]
    problems = []
    if bool(policy) == bool(plan):
        problems.append("give one of policy and plan")
    if plan and (out or qube or inventory or skip_tests):
        problems.append("out, qube, inventory and skip_tests are for policy; a saved plan is applied whole")
    if socket and qrexec:
        problems.append("socket is for dom0, qrexec for a management qube: give one")
    if qrexec_client and not qrexec:
        problems.append("qrexec_client goes with qrexec")
    if problems:
        ret["comment"] = "; ".join(problems)
        return ret
    test = bool(__opts__.get("test"))
    admin = _admin_args(qrexec, qrexec_client, socket, data_dir, kernels_dir)
    notes = []
    tmp = None
    try:
        plan_file = plan
        if not plan_file:
            plan_file = out
            if not plan_file:
                tmp = tempfile.mkdtemp(prefix="qfw-")
                plan_file = os.path.join(tmp, "plan.json")
            args = [executable, "plan", "--detailed-exitcode", "--out", plan_file] + admin
            if inventory:
                args += ["--inventory", inventory]
            if qube:
                args += ["--qube", qube]
            if skip_tests:
                args.append("--skip-tests")
            _, stdout, stderr = _run(args + ["--"] + list(policy), ok=(EXIT_OK, EXIT_CHANGES))
            notes += _warnings(stderr) + _left(stdout)
            summary = _summary(stdout)
        else:
            summary = "the plan saved in %s" % plan_file
        saved = _read_plan(plan_file)
        changes = _changes(saved)
        if test or (not plan and not _works(saved)):
            works = _works(saved)
            ret["result"] = None if works and test else True
            ret["changes"] = changes if works else {}
            ret["comment"] = "qfw would apply: " + summary if works else summary
            if works and plan:
                ret["comment"] += " (checked against dom0 when applied)"
        else:
            args = [executable, "apply", "--target", "qubes", "--plan", plan_file, "--auto-approve"] + admin
            if lock:
                args += ["--lock", lock]
            if refuse_drift:
                args.append("--refuse-drift")
            rc, stdout, stderr = _call(args)
            notes += _warnings(stderr)
            results = _results(stdout)
            done = [q for q, r in results.items() if not r.endswith(UNCHANGED_RESULTS)]
            ret["changes"] = dict((q, c) for q, c in changes.items() if q in done)
            if rc != EXIT_OK:
                raise _Failed(_message(rc, stdout, stderr) + ("\n" + _table(results) if results else ""), ret["changes"])
            ret["result"] = True
            ret["comment"] = "qfw applied: " + summary + ("\n" + _table(results) if results else "")
    except _Failed as e:
        # qfw's message holds its warnings already.
        ret["result"] = False
        ret["comment"] = e.msg
        ret["changes"] = e.changes
        notes = []
    except OSError as e:
        # The temporary directory for the plan.
        ret["result"] = False
        ret["comment"] = "qfw: %s" % e
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if notes:
        ret["comment"] = "\n".join([ret["comment"]] + notes)
    return ret
