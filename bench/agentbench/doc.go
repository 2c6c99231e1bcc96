// Package agentbench compares qfw's nftables backend with the stock Qubes
// firewall agent (qubes-firewall, qubesagent/firewall.py) on the same rule
// lists: it renders the text the stock agent hands to nft -f, step by step
// as the agent builds it, and holds the lists and the benchmarks that time
// a full reload and new connections per second through both rulesets.
// See bench/README.md.
package agentbench
