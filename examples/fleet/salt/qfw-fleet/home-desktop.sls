# The policy of the machine home-desktop, from the fleet repository that dom0
# holds in /usr/share/qfw-fleet. qubesctl state.apply test=True shows the plan;
# qubesctl state.apply applies exactly that plan.
qfw-fleet-policy:
  qfw.applied:
    - policy: /usr/share/qfw-fleet/home-desktop
