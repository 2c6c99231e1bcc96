package main

import (
	"github.com/qfw-dev/qfw/compiler/ir"
	"github.com/qfw-dev/qfw/deploy"
)

// The command that draws a graph says a rule as deploy does.

func describeRule(r *ir.Rule) string { return deploy.DescribeRule(r) }
