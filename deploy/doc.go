// Package deploy is qfw's workflow as a library: it builds a policy (load,
// compile, the backends' checks and the policy's tests), and plans,
// applies, confirms, imports and provisions it through the backends it
// drives. It never prints: functions take an [io.Writer] for what a
// workflow reports on the way, and return results and errors for the
// command line to print.
package deploy
