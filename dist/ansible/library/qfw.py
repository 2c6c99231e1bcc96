#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
"""Ansible module qfw: put a qfw policy in force on a Qubes OS machine.

A thin wrapper over the qfw command: every decision (what the policy
compiles to, what changes, whether a saved plan still holds) is qfw's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: qfw
short_description: Put a qfw firewall policy in force on Qubes OS
description:
  - Plans a qfw policy against the rule lists qubesd holds (C(qfw plan)) and
    applies exactly that plan (C(qfw apply --plan FILE --auto-approve)).
  - In check mode it plans only, and reports C(changed) with each qube's
    changes, and in diff mode each changed qube's list before and after.
  - qfw makes every decision; the module runs it and reports what it says.
    A policy that does not check, a stale plan, a list edited outside qfw
    with I(refuse_drift), or a C(admin.vm.firewall.Set) that qubesd refuses
    fails the task with qfw's own message.
  - Run it where qfw reaches the Admin API, in dom0 (a play on C(localhost))
    or in a management qube with I(qrexec).
version_added: "1.0.0"
author: qfw authors
options:
  policy:
    description:
      - The policy to plan and apply, a directory of CUE files or the files
        themselves, as given to C(qfw plan).
      - One of I(policy) and I(plan) is required.
    type: list
    elements: path
  plan:
    description:
      - A plan saved by C(qfw plan --out) or by this module's I(out), to
        apply exactly as it shows; qfw refuses it whole if it no longer
        matches what dom0 holds.
      - In check mode the saved plan is reported, not checked against dom0.
    type: path
  out:
    description:
      - Keep the plan made from I(policy) in this file, to review it and
        apply it later with I(plan). Written in check mode too.
      - qfw replaces only a plan it saved there before.
    type: path
  inventory:
    description: The inventory file, if not C(inventory.json) beside the policy (C(--inventory)).
    type: path
  qube:
    description: Plan and apply for this qube only (C(--qube)).
    type: str
  skip_tests:
    description: Do not run the policy's tests when planning (C(--skip-tests)).
    type: bool
    default: false
  socket:
    description: qubesd's Admin API socket, in dom0 (C(--socket)); qfw's default if not given.
    type: path
  qrexec:
    description: Call the Admin API through qrexec, from a management qube (C(--qrexec)).
    type: bool
    default: false
  qrexec_client:
    description: The qrexec client program, with I(qrexec) (C(--qrexec-client)).
    type: path
  data_dir:
    description:
      - Where qfw records what it set, to tell lists edited outside qfw (C(--data-dir)).
      - Give the same directory to every run on a machine.
    type: path
  lock:
    description: The lock file that keeps two applies apart (C(--lock)).
    type: path
  refuse_drift:
    description:
      - Leave a qube whose list was edited outside qfw since qfw set it as
        it is, and fail, instead of replacing the edits with a warning
        (C(--refuse-drift)).
    type: bool
    default: false
  kernels_dir:
    description: dom0's kernel directory, for unikernel firewall qubes (C(--kernels-dir)).
    type: path
  executable:
    description: The qfw program to run.
    type: path
    default: qfw
notes:
  - Supports check mode and diff mode.
  - A qube that left the policy keeps its list; qfw's warning about it is
    passed on as a task warning. Release or reset it with C(qfw apply
    --release) or C(--reset).
requirements:
  - qfw on the machine that runs the module
"""

EXAMPLES = r"""
- name: Plan the policy (review the diff)
  qfw:
    policy: /usr/share/org-qfw/policy
    out: /var/lib/qfw/plan.json
  check_mode: true
  diff: true

- name: Apply exactly the plan reviewed above
  qfw:
    plan: /var/lib/qfw/plan.json

- name: Plan and apply in one step
  qfw:
    policy: /usr/share/org-qfw/policy
    refuse_drift: true
"""

RETURN = r"""
changes:
  description:
    - What the plan changes (or changed), by qube. C(old) and C(new) are a
      changed qube's rule list before and after; C(tag) says the qube gets
      the tag qfw-managed; C(provision) lists the steps that provision a
      unikernel firewall qube, C(kernel) the image it installs.
    - After a failed apply, only the qubes qfw reports as changed.
  returned: always
  type: dict
  sample: {"work": {"old": ["action=accept"], "new": ["action=accept proto=tcp dstports=443-443 comment=web", "action=drop"]}}
results:
  description: qfw apply's result for each qube it acted on, as its final table says.
  returned: when qfw apply ran
  type: dict
  sample: {"work": "applied (+2 -1)"}
plan:
  description: The plan, as C(qfw plan --json) writes it.
  returned: when a plan was made or read
  type: dict
summary:
  description: The plan's summary line, as qfw prints it.
  returned: when a plan was made or read
  type: str
  sample: "Plan: 1 qube to change, 1 unchanged; 2 rules to add, 1 to remove."
stdout:
  description: What the last qfw run printed on its standard output.
  returned: always
  type: str
stderr:
  description: What the last qfw run printed on its standard error.
  returned: always
  type: str
rc:
  description:
    - The exit code of the qfw run that failed. (A successful plan may exit
      2, for changes; Ansible would take that C(rc) for a failure.)
  returned: on failure
  type: int
cmd:
  description: The last qfw command run.
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = dict(
    policy=dict(type="list", elements="path"),
    plan=dict(type="path"),
    out=dict(type="path"),
    inventory=dict(type="path"),
    qube=dict(type="str"),
    skip_tests=dict(type="bool", default=False),
    socket=dict(type="path"),
    qrexec=dict(type="bool", default=False),
    qrexec_client=dict(type="path"),
    data_dir=dict(type="path"),
    lock=dict(type="path"),
    refuse_drift=dict(type="bool", default=False),
    kernels_dir=dict(type="path"),
    executable=dict(type="path", default="qfw"),
)

# qfw's exit codes: plan --detailed-exitcode exits 2 when the plan
# changes something.
EXIT_OK = 0
EXIT_CHANGES = 2

# The words that end a row of apply's result table for a qube it left as
# it was.
UNCHANGED_RESULTS = ("unchanged", "not tagged", "still managed")


class QfwError(Exception):
    """qfw failed; its message is qfw's, said as qfw said it."""

    def __init__(self, msg, run):
        super(QfwError, self).__init__(msg)
        self.msg = msg
        self.run = run


class Qfw(object):
    """Runs qfw with the module's parameters, keeping the last run."""

    def __init__(self, module, program):
        self.module = module
        self.program = program
        self.last = dict(cmd=[], rc=0, stdout="", stderr="")
        self.warnings = []

    def run(self, args, ok=(EXIT_OK,)):
        cmd = [self.program] + args
        rc, stdout, stderr = self.module.run_command(cmd, check_rc=False)
        self.last = dict(cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
        for line in stderr.splitlines():
            if line.startswith("qfw: warning: ") or line.startswith("qfw: note: "):
                self.warnings.append(line[len("qfw: "):])
        if rc not in ok:
            raise QfwError(qfw_message(rc, stderr, stdout), self.last)
        return rc, stdout


def qfw_message(rc, stderr, stdout):
    """Returns what qfw said of its failure: its standard error, or a word
    on its exit if it said nothing."""
    msg = stderr.strip()
    if msg:
        return msg
    if rc < 0:
        return "qfw was killed by signal %d" % -rc
    return "qfw exited %d without a message%s" % (rc, (": " + stdout.strip()) if stdout.strip() else "")


def admin_args(p):
    """The flags that say how qfw reaches the Admin API and keeps its
    record, which plan and apply both take."""
    args = []
    if p["qrexec"]:
        args.append("--qrexec")
        if p["qrexec_client"]:
            args += ["--qrexec-client", p["qrexec_client"]]
    elif p["socket"]:
        args += ["--socket", p["socket"]]
    if p["data_dir"]:
        args += ["--data-dir", p["data_dir"]]
    if p["kernels_dir"]:
        args += ["--kernels-dir", p["kernels_dir"]]
    return args


def plan_args(p, out):
    args = ["plan", "--detailed-exitcode", "--out", out] + admin_args(p)
    if p["inventory"]:
        args += ["--inventory", p["inventory"]]
    if p["qube"]:
        args += ["--qube", p["qube"]]
    if p["skip_tests"]:
        args.append("--skip-tests")
    return args + ["--"] + p["policy"]


def apply_args(p, plan_file):
    args = ["apply", "--target", "qubes", "--plan", plan_file, "--auto-approve"] + admin_args(p)
    if p["lock"]:
        args += ["--lock", p["lock"]]
    if p["refuse_drift"]:
        args.append("--refuse-drift")
    return args


def read_plan(path):
    """Reads a plan qfw saved. qfw checks it before applying it; the
    module only shows it."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (IOError, OSError) as e:
        raise QfwError("plan %s: %s" % (path, e.strerror or e), None)
    except ValueError as e:
        raise QfwError("plan %s: not a plan qfw saved: %s" % (path, e), None)


def plan_changes(plan):
    """Returns, by qube, what the plan changes, from qfw's plan JSON."""
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


def plan_works(plan):
    """Reports whether applying the plan changes anything, as qfw's summary
    counts it: lists to set, firewall qubes to provision, qubes to tag."""
    s = plan.get("summary") or {}
    return any(s.get(k, 0) > 0 for k in ("change", "provision", "mark"))


def plan_diff(plan, only=None):
    """Returns Ansible's diff of each changed qube's list, or of those in
    only."""
    diffs = []
    for q in plan.get("qubes") or []:
        if not q.get("changed") or only is not None and q["name"] not in only:
            continue
        old = [e["line"] for e in q.get("edits", []) if e.get("op") in ("~", "-")]
        diffs.append(dict(
            before_header="%s (rules in dom0)" % q["name"],
            after_header="%s (rules of the policy)" % q["name"],
            before="".join(line + "\n" for line in old),
            after="".join(line + "\n" for line in q.get("rules", [])),
        ))
    return diffs


def summary_line(stdout):
    """Returns the summary line of qfw's plan output: its line starting
    "Plan:" or "No changes:"."""
    for line in stdout.splitlines():
        if line.startswith("Plan: ") or line.startswith("No changes: "):
            return line
    return ""


def left_lines(stdout):
    """Returns the lines of qfw's plan output on the qubes that left the
    policy, whose lists qfw keeps until told what to do with them."""
    return [line for line in stdout.splitlines() if ": left the policy; " in line]


def apply_results(stdout):
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


def changed_by(results):
    """Returns the qubes apply's table reports as changed."""
    return [q for q, r in results.items() if not r.endswith(UNCHANGED_RESULTS)]


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("policy", "plan"), ("plan", "out"), ("plan", "qube"), ("plan", "skip_tests"), ("plan", "inventory"), ("socket", "qrexec")],
        required_one_of=[("policy", "plan")],
        required_by={"qrexec_client": "qrexec"},
        supports_check_mode=True,
    )
    p = module.params
    program = module.get_bin_path(p["executable"], required=True) if os.sep not in p["executable"] else p["executable"]
    qfw = Qfw(module, program)
    result = dict(changed=False, changes={})
    tmp = None
    try:
        plan_file = p["plan"]
        if plan_file:
            plan = read_plan(plan_file)
        else:
            plan_file = p["out"]
            if not plan_file:
                tmp = tempfile.mkdtemp(prefix="qfw-")
                plan_file = os.path.join(tmp, "plan.json")
            qfw.run(plan_args(p, plan_file), ok=(EXIT_OK, EXIT_CHANGES))
            plan = read_plan(plan_file)
            result["summary"] = summary_line(qfw.last["stdout"])
            qfw.warnings += left_lines(qfw.last["stdout"])
        result["plan"] = plan
        changes = plan_changes(plan)
        if module.check_mode or (not p["plan"] and not plan_works(plan)):
            # Nothing is applied: in check mode by request, and a plan
            # without work would change nothing.
            result["changed"] = plan_works(plan)
            if result["changed"]:
                result["changes"] = changes
                if module._diff:
                    result["diff"] = plan_diff(plan)
        else:
            try:
                qfw.run(apply_args(p, plan_file))
            except QfwError as e:
                done = changed_by(apply_results(qfw.last["stdout"]))
                e.run = dict(e.run, results=apply_results(qfw.last["stdout"]), changed=bool(done),
                             changes=dict((q, c) for q, c in changes.items() if q in done))
                raise
            result["results"] = apply_results(qfw.last["stdout"])
            done = changed_by(result["results"])
            result["changed"] = bool(done)
            result["changes"] = dict((q, c) for q, c in changes.items() if q in done)
            if result["changed"] and module._diff:
                result["diff"] = plan_diff(plan, only=done)
    except QfwError as e:
        fail = dict(msg=e.msg, changed=False, changes={})
        fail.update(e.run or qfw.last)
        for w in qfw.warnings:
            module.warn(w)
        module.fail_json(**fail)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    for w in qfw.warnings:
        module.warn(w)
    last = dict(qfw.last)
    del last["rc"]
    result.update(last)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
