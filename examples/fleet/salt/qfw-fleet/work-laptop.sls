# The policy of the machine work-laptop, from the fleet repository that dom0
# holds in /usr/share/qfw-fleet. qubesctl state.apply test=True shows the plan;
# qubesctl state.apply applies exactly that plan.
qfw-fleet-policy:
  qfw.applied:
    - policy: /usr/share/qfw-fleet/work-laptop
    # Where qfw records the lists it set, to tell lists edited outside qfw:
    # the same on every run.
    - data_dir: /var/lib/qfw
