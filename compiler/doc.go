// Package compiler compiles a loaded policy into the [ir.Program] that every
// backend lowers: names resolved against the inventory, destinations and
// services checked and expanded into Qubes rules, rules ordered, and the
// rule lists analysed for rules that can never take effect. Its warnings
// have kinds; those the policy acknowledges are set apart, and an
// acknowledgement that matches none is a warning of its own.
package compiler
