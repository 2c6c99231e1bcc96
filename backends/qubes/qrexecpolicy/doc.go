// Package qrexecpolicy writes the dom0 qrexec policy that lets a
// management qube run qfw, and reads and evaluates such policies as dom0
// does.
//
// A management qube reaches the Admin API through qrexec-client-vm; dom0
// lets each call through only if the first rule of its policy files
// (/etc/qubes/policy.d/*.policy, Qubes 4.1 and later) that matches the
// call's service, argument, calling qube and target allows it. An Admin
// API call must be redirected to dom0 (target=dom0), where qubesd answers
// it. Generate writes the rules for the calls qfw makes and no others;
// Parse and Evaluate read and apply a policy file the way dom0 does, for
// the in-process qubesd of the tests.
package qrexecpolicy
