# qfw: put the machine's firewall policy in force in dom0.
#
#   qubesctl state.apply qfw test=True   # plan: what would change, per qube
#   qubesctl state.apply qfw             # apply exactly the plan it makes
#
# The state runs qfw plan against the rule lists qubesd holds and applies
# that plan with qfw apply --plan; see
# https://github.com/qfw-dev/qfw/tree/main/dist/salt. Firewall rules are
# dom0's, so this runs in dom0's pass of qubesctl (never --skip-dom0).
#
# Point policy at your policy: a directory of CUE files with its
# inventory.json, such as one a package of your organisation installs.
# An upgrade of qfw keeps this file once you edit it.
qfw-policy:
  qfw.applied:
    - policy: /usr/share/org-qfw/policy
    # Where qfw records the lists it set, to tell lists edited outside
    # qfw: keep it the same across runs.
    - data_dir: /var/lib/qfw
    # Leave a list edited outside qfw as it is, and fail, rather than
    # replace the edit with a warning.
    - refuse_drift: False
