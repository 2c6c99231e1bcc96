package main

import (
	"github.com/qfw-dev/qfw/compiler/eval"
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
	"github.com/qfw-dev/qfw/policytest"
)

// The commands that explain a packet or a test say it as deploy does.

func describePackets(p eval.Packet, last int) string { return deploy.DescribePackets(p, last) }

func describeRule(r *ir.Rule) string { return deploy.DescribeRule(r) }

func describeFate(e *policytest.Enforcer, p eval.Packet, r eval.Result) string {
	return deploy.DescribeFate(e, p, r)
}
