// Package buildinfo renders which build of a program a binary is, from
// the build information Go stamps into it, as qfw version prints it: the
// version, the git revision and its time, and the Go version and
// platform. It imports nothing of qfw.
package buildinfo
