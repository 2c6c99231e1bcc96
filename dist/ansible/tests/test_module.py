# -*- coding: utf-8 -*-
"""Tests of the Ansible module qfw that need no qubesd: its documentation
says what it takes. The Go test in dist/ runs them with the Python that
runs ansible-playbook, and runs the module with ansible-playbook against a
fake qubesd."""

import importlib.util
import os
import unittest

import yaml

LIBRARY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "library")


def load():
    spec = importlib.util.spec_from_file_location("qfw_module", os.path.join(LIBRARY, "qfw.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Documentation(unittest.TestCase):
    def setUp(self):
        self.mod = load()
        self.doc = yaml.safe_load(self.mod.DOCUMENTATION)

    def test_options_are_the_arguments(self):
        """Each option documented is an argument, of the same type, default
        and elements, and each argument is documented."""
        options, spec = self.doc["options"], self.mod.ARGUMENT_SPEC
        self.assertEqual(sorted(options), sorted(spec))
        for name, arg in spec.items():
            opt = options[name]
            self.assertTrue(opt.get("description"), name)
            for key in ("type", "default", "elements"):
                self.assertEqual(opt.get(key), arg.get(key), "%s: %s" % (name, key))

    def test_examples_use_documented_options(self):
        for task in yaml.safe_load(self.mod.EXAMPLES):
            for option in task["qfw"]:
                self.assertIn(option, self.doc["options"], task["name"])

    def test_return(self):
        ret = yaml.safe_load(self.mod.RETURN)
        for name, value in ret.items():
            self.assertTrue(value.get("description") and value.get("returned") and value.get("type"), name)
        self.assertEqual(self.doc["module"], "qfw")


class Results(unittest.TestCase):
    """The reading of apply's result table: a qube it left as it was is
    not a change."""

    def test_changed_by(self):
        mod = load()
        stdout = ("Plan: 2 qubes to change, 0 unchanged; 2 rules to add, 2 to remove.\n\n"
                  "QUBE          RESULT\n"
                  "dev           stale plan, unchanged\n"
                  "work          applied (+1 -1)\n"
                  "vault         tagged qfw-managed\n"
                  "old           failed, still managed\n"
                  "mail          failed, not tagged\n"
                  "mirage-fw     provisioned (3 steps)\n"
                  "\n")
        results = mod.apply_results(stdout)
        self.assertEqual(results, {
            "dev": "stale plan, unchanged", "work": "applied (+1 -1)", "vault": "tagged qfw-managed",
            "old": "failed, still managed", "mail": "failed, not tagged", "mirage-fw": "provisioned (3 steps)",
        })
        self.assertEqual(sorted(mod.changed_by(results)), ["mirage-fw", "vault", "work"])


if __name__ == "__main__":
    unittest.main()
