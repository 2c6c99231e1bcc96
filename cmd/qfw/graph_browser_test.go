package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium or Chrome to test the page in.
// Without one the test is skipped, but in CI, which must run it, it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium to test the graph page in: apt-get install chromium")
	}
	t.Skip("no chromium to test the graph page in: apt-get install chromium")
	return ""
}

// browserPage is a page of qfw's open in a headless Chromium, with what
// it logged and the requests it made.
type browserPage struct {
	t   *testing.T
	ctx context.Context
	// strip is the directory that the rules' places are given from.
	strip string

	mu                 sync.Mutex
	problems, requests []string
	url                string
	stopConsole        func()
	read               chan struct{}
}

// openPage writes page to dir/name and opens it from the file.
func openPage(t *testing.T, dir, name string, page []byte, strip string) *browserPage {
	t.Helper()
	browser := chromium(t)
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, page, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1600, 1000))
	if os.Geteuid() == 0 {
		// Chromium's sandbox will not run as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	p := &browserPage{t: t, strip: strip, url: "file://" + filepath.ToSlash(file), read: make(chan struct{})}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			p.mu.Lock()
			p.requests = append(p.requests, ev.Request.URL)
			p.mu.Unlock()
		}
	}))
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	p.ctx = ctx
	// Start the browser, then read its console until the end of the test.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	p.stopConsole = stop
	console := chromedp.Console(cctx)
	go func() {
		defer close(p.read)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	p.do(chromedp.Navigate(p.url), chromedp.WaitVisible("#graph"))
	return p
}

func (p *browserPage) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// view is what a page shows: each visible node as KIND NAME, each visible
// edge and each visible row of the table as its title.
type view struct{ Nodes, Edges, Rows []string }

func (p *browserPage) shown() view {
	p.t.Helper()
	const js = `(() => {
		const on = (el) => getComputedStyle(el).display !== "none" && el.getBoundingClientRect().width > 0;
		const all = (sel) => [...document.querySelectorAll(sel)].filter(on);
		return {
			Nodes: all("svg .node").map((n) => n.dataset.kind + " " + n.dataset.name),
			Edges: all("svg .edge").map((e) => e.querySelector("title").textContent),
			Rows: all("tr[data-edge]").map((r) => document.getElementById(r.dataset.edge).querySelector("title").textContent),
		};
	})()`
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[view](js))
	if err != nil {
		p.t.Fatal(err)
	}
	for _, s := range [][]string{v.Edges, v.Rows} {
		for i := range s {
			s[i] = strings.ReplaceAll(s[i], p.strip+string(filepath.Separator), "")
		}
	}
	return v
}

// check checks that the page shows nodes and edges, and the rows of the
// edges.
func (p *browserPage) check(what string, nodes, edges []string) {
	p.t.Helper()
	got := p.shown()
	if !slices.Equal(got.Nodes, nodes) {
		p.t.Errorf("%s: nodes shown:\n%s\nwant:\n%s", what, strings.Join(got.Nodes, "\n"), strings.Join(nodes, "\n"))
	}
	if !slices.Equal(got.Edges, edges) {
		p.t.Errorf("%s: edges shown:\n%s\nwant:\n%s", what, strings.Join(got.Edges, "\n"), strings.Join(edges, "\n"))
	}
	if !slices.Equal(got.Rows, got.Edges) {
		p.t.Errorf("%s: the table's rows are not the edges shown:\n%s", what, strings.Join(got.Rows, "\n"))
	}
}

// pick types text into the input sel, emptied first by the script, as
// typing cannot.
func (p *browserPage) pick(sel, text string) {
	p.t.Helper()
	clear := chromedp.Evaluate[bool](`(() => {
		const el = document.querySelector("` + sel + `");
		el.value = "";
		return el.dispatchEvent(new Event("input", {bubbles: true}));
	})()`)
	steps := []chromedp.Action[chromedp.Void]{chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, clear)
		return err
	})}
	if text != "" {
		steps = append(steps, chromedp.SendKeys(sel, text))
	}
	p.do(steps...)
}

// screenshot saves the page, whole, as dir/name.
func (p *browserPage) screenshot(dir, name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	shot := filepath.Join(dir, name)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", shot)
}

// finish checks that the page logged no error nor warning and asked for
// nothing but itself.
func (p *browserPage) finish() {
	p.t.Helper()
	// Let the last messages come, then stop reading them.
	p.do(chromedp.Sleep(100 * time.Millisecond))
	p.stopConsole()
	<-p.read
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.problems) > 0 {
		p.t.Errorf("the page logged:\n%s", strings.Join(p.problems, "\n"))
	}
	if !slices.Equal(p.requests, []string{p.url}) {
		p.t.Errorf("the page made requests %q, want only its own %q", p.requests, p.url)
	}
}

// TestGraphPageInBrowser opens the page of examples/laptop from a file in
// a headless Chromium: it must load with no console errors and no network
// request, draw the nodes and edges of the policy, and its filters must
// show what they say. It saves a screenshot.
func TestGraphPageInBrowser(t *testing.T) {
	chromium(t)
	dir := t.ArtifactDir()
	example, err := filepath.Abs("../../examples/laptop")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"graph", "--now", "2026-01-01T00:00:00Z", example}, &stdout, &stderr); code != 0 {
		t.Fatalf("qfw graph exited %d: %s", code, stderr.String())
	}
	p := openPage(t, dir, "graph.html", stdout.Bytes(), example)
	p.check("unfiltered", laptopNodes, laptopEdges)
	p.screenshot(dir, "graph.png")

	// A qube's name shows that qube alone, with its firewall qube.
	p.pick("#f-qube", "work")
	p.check("qube work", []string{
		"qube work",
		"firewall sys-firewall",
		"dest 10.139.1.1, 10.139.1.2",
		"dest 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
		"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
		"dest 140.82.121.3, 140.82.121.4",
		"dest 192.168.1.50",
		"dest 203.0.113.0/24",
	}, edgesOf("work, "))
	// A firewall qube's name shows its clients.
	p.pick("#f-qube", "sys-vpn")
	p.check("firewall sys-vpn", []string{
		"qube sys-vpn",
		"qube work-vpn",
		"firewall sys-firewall",
		"firewall sys-vpn",
		"dest 10.139.1.1, 10.139.1.2",
		"dest 198.51.100.7",
		"dest 203.0.113.0/24",
	}, append(edgesOf("sys-vpn, "), edgesOf("work-vpn, ")...))
	// An address shows the edges to destinations that hold it, whatever
	// their services.
	p.pick("#f-qube", "")
	p.pick("#f-dest", "192.168.1.20")
	// The LAN denies of four qubes, and personal's, ping and NAS.
	nas := []string{laptopEdges[4], laptopEdges[7], laptopEdges[10], laptopEdges[11], laptopEdges[12], laptopEdges[18], laptopEdges[24]}
	p.check("destination 192.168.1.20", []string{
		"qube default-dvm",
		"qube disp4211",
		"qube personal",
		"qube untrusted",
		"qube work",
		"firewall mirage-fw",
		"firewall sys-firewall",
		"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
		"dest 192.168.1.0/24",
		"dest 192.168.1.20",
		"dest 10.0.0.0/8 (except 10.137.0.9), 172.16.0.0/12, 192.168.0.0/16",
	}, nas)
	// An IPv6 address, held by banking's destinations only.
	p.pick("#f-dest", "2001:db8:80::81")
	p.check("destination 2001:db8:80::81", []string{
		"qube banking",
		"firewall sys-firewall",
		"dest 198.51.100.80/31, 2001:db8:80::80/127",
	}, []string{laptopEdges[1]})
	// A prefix shows the edges to destinations that share addresses with
	// it: not the internet, which leaves the LAN out, nor the NAS above
	// the prefix.
	p.pick("#f-dest", "192.168.1.0/28")
	p.check("destination 192.168.1.0/28", []string{
		"qube default-dvm",
		"qube disp4211",
		"qube personal",
		"qube untrusted",
		"qube work",
		"firewall mirage-fw",
		"firewall sys-firewall",
		"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
		"dest 192.168.1.0/24",
		"dest 10.0.0.0/8 (except 10.137.0.9), 172.16.0.0/12, 192.168.0.0/16",
	}, []string{laptopEdges[4], laptopEdges[7], laptopEdges[10], laptopEdges[12], laptopEdges[18], laptopEdges[24]})
	// Without accepted edges, the denied ones are left.
	p.pick("#f-dest", "")
	p.do(chromedp.Click(`input[name=verdict][value=accept]`))
	var denied []string
	for _, e := range laptopEdges {
		if strings.Contains(e, ": deny ") {
			denied = append(denied, e)
		}
	}
	p.check("denied", []string{
		"qube default-dvm",
		"qube disp4211",
		"qube personal",
		"qube untrusted",
		"qube work",
		"firewall mirage-fw",
		"firewall sys-firewall",
		"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
		"dest 10.0.0.0/8 (except 10.137.0.9), 172.16.0.0/12, 192.168.0.0/16",
		"dest 10.137.0.9",
	}, denied)
	// Show all brings every node and edge back.
	p.do(chromedp.Click(`button[type=reset]`), chromedp.Sleep(50*time.Millisecond))
	p.check("reset", laptopNodes, laptopEdges)
	status, err := chromedp.Run(p.ctx, chromedp.Text("#status"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "27 of 27 edges shown"; status != want {
		t.Errorf("status %q, want %q", status, want)
	}
	// A click on a destination filters by it: the edges to destinations
	// that share addresses with it, here the internet's too. Enter on a
	// qube filters by the qube.
	p.do(chromedp.Click(`svg .node[data-kind=dest][data-name="203.0.113.0/24"]`))
	p.check("click on 203.0.113.0/24", []string{
		"qube default-dvm",
		"qube disp4211",
		"qube personal",
		"qube untrusted",
		"qube work",
		"qube work-vpn",
		"firewall mirage-fw",
		"firewall sys-firewall",
		"firewall sys-vpn",
		"dest 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
		"dest 203.0.113.0/24",
	}, []string{laptopEdges[2], laptopEdges[5], laptopEdges[8], laptopEdges[16], laptopEdges[19], laptopEdges[23], laptopEdges[26]})
	p.do(chromedp.Click(`button[type=reset]`), chromedp.Sleep(50*time.Millisecond),
		chromedp.Focus(`svg .node[data-kind=qube][data-name=banking]`), chromedp.KeyEvent("\r"))
	p.check("enter on banking", []string{
		"qube banking",
		"firewall sys-firewall",
		"dest 10.139.1.1, 10.139.1.2",
		"dest 198.51.100.80/31, 2001:db8:80::80/127",
	}, edgesOf("banking, "))
	p.finish()
}

// TestDiffPageInBrowser opens the page of qfw diff --format html in a
// headless Chromium: it must load as graph's does, draw the edges a change
// gains and loses, and filter them by verdict.
func TestDiffPageInBrowser(t *testing.T) {
	chromium(t)
	dir := t.ArtifactDir()
	work := t.TempDir()
	inventory := `{"qubes": {
		"work": {"ip": "10.137.0.11", "netvm": "sys-firewall"},
		"dev": {"ip": "10.137.0.12", "netvm": "sys-firewall"},
		"sys-firewall": {"ip": "10.137.0.6", "netvm": "sys-net", "provides_network": true},
		"sys-net": {"ip": "10.137.0.5", "provides_network": true}
	}}`
	for side, policy := range map[string]string{
		"base": "package policy\n\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\nqubes: dev: allow: web: {to: \"any\", tcp: [80, 443]}\n",
		"head": "package policy\n\nqubes: work: allow: web: {to: \"any\", tcp: [443]}\nqubes: work: allow: corp: {to: \"203.0.113.0/24\", tcp: [22]}\nqubes: dev: {}\n",
	} {
		if err := os.MkdirAll(filepath.Join(work, side), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range map[string]string{"policy.cue": policy, "inventory.json": inventory} {
			if err := os.WriteFile(filepath.Join(work, side, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"diff", "--format", "html", filepath.Join(work, "base"), filepath.Join(work, "head")}, &stdout, &stderr); code != exitChanges {
		t.Fatalf("qfw diff exited %d, want %d: %s", code, exitChanges, stderr.String())
	}
	p := openPage(t, dir, "diff.html", stdout.Bytes(), work)
	gained := "work, behind sys-firewall: gained tcp 22 to 203.0.113.0/24: now accept by allow.corp (head/policy.cue:4:21); was drop: no rule matches"
	lost := "dev, behind sys-firewall: lost tcp 80, 443 to 0.0.0.0/0: now drop by the rule action=drop comment=no-rules; was accept by allow.web (base/policy.cue:4:20)"
	all := []string{"qube dev", "qube work", "firewall sys-firewall", "dest 0.0.0.0/0", "dest 203.0.113.0/24"}
	p.check("unfiltered", all, []string{lost, gained})
	p.screenshot(dir, "diff.png")
	p.do(chromedp.Click(`input[name=verdict][value=lost]`))
	p.check("gained only", []string{"qube work", "firewall sys-firewall", "dest 203.0.113.0/24"}, []string{gained})
	p.finish()
}

// edgesOf returns the edges of laptopEdges whose titles start with prefix.
func edgesOf(prefix string) []string {
	var out []string
	for _, e := range laptopEdges {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// laptopNodes and laptopEdges are what the page of examples/laptop draws.
var laptopNodes = []string{
	"qube banking",
	"qube default-dvm",
	"qube disp4211",
	"qube personal",
	"qube sys-vpn",
	"qube untrusted",
	"qube vault",
	"qube work",
	"qube work-vpn",
	"firewall mirage-fw",
	"firewall sys-firewall",
	"firewall sys-vpn",
	"dest 10.139.1.1, 10.139.1.2",
	"dest 198.51.100.80/31, 2001:db8:80::80/127",
	"dest 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)",
	"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
	"dest 192.168.1.0/24",
	"dest 192.168.1.20",
	"dest 10.0.0.0/8 (except 10.137.0.9), 172.16.0.0/12, 192.168.0.0/16",
	"dest 10.137.0.9",
	"dest 198.51.100.7",
	"dest 140.82.121.3, 140.82.121.4",
	"dest 192.168.1.50",
	"dest 203.0.113.0/24",
}

var laptopEdges = []string{
	"banking, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (qubes.cue:31:10)",
	"banking, behind sys-firewall: accept tcp 443 to 198.51.100.80/31, 2001:db8:80::80/127 by allow.bank (qubes.cue:32:10)",
	"default-dvm, behind sys-firewall: accept tcp 80, 443 to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) by allow.web (profiles.cue:27:10)",
	"default-dvm, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (profiles.cue:25:10)",
	"default-dvm, behind sys-firewall: deny any protocol to 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2 by deny.lan (profiles.cue:26:9)",
	"disp4211, behind sys-firewall: accept tcp 80, 443 to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) by allow.web (profiles.cue:27:10)",
	"disp4211, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (profiles.cue:25:10)",
	"disp4211, behind sys-firewall: deny any protocol to 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2 by deny.lan (profiles.cue:26:9)",
	"personal, behind mirage-fw: accept any protocol to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) by allow.internet (profiles.cue:20:10)",
	"personal, behind mirage-fw: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (profiles.cue:18:10)",
	"personal, behind mirage-fw: accept icmp types 0, 3, 8, 11 to 192.168.1.0/24 by allow.ping (qubes.cue:27:10)",
	"personal, behind mirage-fw: accept tcp 445, 2049 to 192.168.1.20 by allow.nas (qubes.cue:26:10)",
	"personal, behind mirage-fw: deny any protocol to 10.0.0.0/8 (except 10.137.0.9), 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2; icmp types 0, 3, 8, 11 to 192.168.1.0/24 (except 192.168.1.20) and tcp 445, 2049; icmp types 0, 3, 8, 11 to 192.168.1.20 by deny.lan (profiles.cue:19:9)",
	"personal, behind mirage-fw: deny any protocol to 10.137.0.9 by mirage-fw itself, which decides the packets to its own address",
	"sys-vpn, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (qubes.cue:52:10)",
	"sys-vpn, behind sys-firewall: accept udp 1194 to 198.51.100.7 by allow.tunnel (qubes.cue:53:10)",
	"untrusted, behind sys-firewall: accept any protocol to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) by allow.all (qubes.cue:47:10)",
	"untrusted, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (qubes.cue:45:10)",
	"untrusted, behind sys-firewall: deny any protocol to 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2 by deny.lan (qubes.cue:46:9)",
	"work, behind sys-firewall: accept any protocol to 0.0.0.0/0 (except 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), except tcp 22 to 140.82.121.3, 140.82.121.4 and tcp 22, 443, 587, 993 to 203.0.113.0/24 by allow.internet (profiles.cue:10:10)",
	"work, behind sys-firewall: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (profiles.cue:8:10)",
	"work, behind sys-firewall: accept tcp 22 to 140.82.121.3, 140.82.121.4 by allow.git (qubes.cue:14:10)",
	"work, behind sys-firewall: accept tcp 631 to 192.168.1.50 by allow.printer (qubes.cue:8:10)",
	"work, behind sys-firewall: accept tcp 22, 443, 587, 993 to 203.0.113.0/24 by allow.corp (qubes.cue:9:10)",
	"work, behind sys-firewall: deny any protocol to 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2 and tcp 631 to 192.168.1.50 by deny.lan (profiles.cue:9:9)",
	"work-vpn, behind sys-vpn: accept dns to 10.139.1.1, 10.139.1.2 by allow.dns (qubes.cue:20:10)",
	"work-vpn, behind sys-vpn: accept any protocol to 203.0.113.0/24 by allow.corp (qubes.cue:21:10)",
}
