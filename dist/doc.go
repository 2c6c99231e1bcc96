// Package dist holds what qfw ships beside its command: the packages'
// builder (dist/pkg), the systemd drop-in of qfw agent (dist/systemd), the
// Ansible module qfw (dist/ansible) and the Salt state qfw.applied
// (dist/salt). This directory's own code is its tests: they run the
// Ansible module with ansible-playbook and the Salt state through a
// stand-in for Salt's loader, each against an in-process qubesd, and the
// Python tests beside them (see dist/ansible/README.md and
// dist/salt/README.md).
package dist
