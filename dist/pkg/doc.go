// Command pkg builds qfw's packages: an RPM for dom0 and, for templates, a
// deb and an RPM, each holding a qfw binary built here, with a SHA256SUMS
// file beside them. The same source, Go toolchain and time give the same
// bytes. Run it from the repository:
//
//	go run ./dist/pkg -out DIR [-version vX.Y.Z]
//
// See README.md in this directory for what each package holds and why.
package main
