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

// TestGraphPageInBrowser opens the page of examples/laptop from a file in
// a headless Chromium: it must load with no console errors and no network
// request, draw the nodes and edges of the policy, and its filters must
// show what they say. It saves a screenshot.
func TestGraphPageInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.ArtifactDir()
	page := filepath.Join(dir, "graph.html")
	example, err := filepath.Abs("../../examples/laptop")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"graph", "--now", "2026-01-01T00:00:00Z", "../../examples/laptop"}, &stdout, &stderr); code != 0 {
		t.Fatalf("qfw graph exited %d: %s", code, stderr.String())
	}
	if err := os.WriteFile(page, stdout.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.WindowSize(1600, 1000))
	if os.Geteuid() == 0 {
		// Chromium's sandbox will not run as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()

	var mu sync.Mutex
	var problems, requests []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Start the browser, then read its console until the end of the test.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, stopConsole := context.WithCancel(ctx)
	console := chromedp.Console(cctx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	url := "file://" + filepath.ToSlash(page)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible("#graph")); err != nil {
		t.Fatal(err)
	}

	// shown returns what the page shows: each visible node as KIND NAME,
	// each visible edge and each visible row of the table as its title.
	type view struct{ Nodes, Edges, Rows []string }
	shown := func() view {
		t.Helper()
		const js = `(() => {
			const on = (el) => getComputedStyle(el).display !== "none" && el.getBoundingClientRect().width > 0;
			const all = (sel) => [...document.querySelectorAll(sel)].filter(on);
			return {
				Nodes: all("svg .node").map((n) => n.dataset.kind + " " + n.dataset.name),
				Edges: all("svg .edge").map((e) => e.querySelector("title").textContent),
				Rows: all("tr[data-edge]").map((r) => document.getElementById(r.dataset.edge).querySelector("title").textContent),
			};
		})()`
		v, err := chromedp.Run(ctx, chromedp.Evaluate[view](js))
		if err != nil {
			t.Fatal(err)
		}
		// The rules' places are given from the policy's directory.
		for _, s := range [][]string{v.Edges, v.Rows} {
			for i := range s {
				s[i] = strings.ReplaceAll(s[i], example+string(filepath.Separator), "")
			}
		}
		return v
	}
	check := func(what string, got view, nodes, edges []string) {
		t.Helper()
		if !slices.Equal(got.Nodes, nodes) {
			t.Errorf("%s: nodes shown:\n%s\nwant:\n%s", what, strings.Join(got.Nodes, "\n"), strings.Join(nodes, "\n"))
		}
		if !slices.Equal(got.Edges, edges) {
			t.Errorf("%s: edges shown:\n%s\nwant:\n%s", what, strings.Join(got.Edges, "\n"), strings.Join(edges, "\n"))
		}
		if !slices.Equal(got.Rows, got.Edges) {
			t.Errorf("%s: the table's rows are not the edges shown:\n%s", what, strings.Join(got.Rows, "\n"))
		}
	}

	check("unfiltered", shown(), laptopNodes, laptopEdges)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "graph.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	pick := func(sel, text string) {
		t.Helper()
		// Emptied by the script, as typing cannot, then typed, as a user
		// would.
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
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	// A qube's name shows that qube alone, with its firewall qube.
	pick("#f-qube", "work")
	check("qube work", shown(), []string{
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
	pick("#f-qube", "sys-vpn")
	check("firewall sys-vpn", shown(), []string{
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
	pick("#f-qube", "")
	pick("#f-dest", "192.168.1.20")
	// The LAN denies of four qubes, and personal's, ping and NAS.
	nas := []string{laptopEdges[4], laptopEdges[7], laptopEdges[10], laptopEdges[11], laptopEdges[12], laptopEdges[18], laptopEdges[24]}
	check("destination 192.168.1.20", shown(), []string{
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
		"dest 10.0.0.0/9, 10.128.0.0/13, 10.136.0.0/16, 10.137.0.0/29, 10.137.0.8, 10.137.0.10/31, 10.137.0.12/30, 10.137.0.16/28, 10.137.0.32/27, 10.137.0.64/26, 10.137.0.128/25, 10.137.1.0/24, 10.137.2.0/23, 10.137.4.0/22, 10.137.8.0/21, 10.137.16.0/20, 10.137.32.0/19, 10.137.64.0/18, 10.137.128.0/17, 10.138.0.0/15, 10.140.0.0/14, 10.144.0.0/12, 10.160.0.0/11, 10.192.0.0/10, 172.16.0.0/12, 192.168.0.0/16",
	}, nas)
	// An IPv6 address, held by banking's destinations only.
	pick("#f-dest", "2001:db8:80::81")
	check("destination 2001:db8:80::81", shown(), []string{
		"qube banking",
		"firewall sys-firewall",
		"dest 198.51.100.80/31, 2001:db8:80::80/127",
	}, []string{laptopEdges[1]})
	// Without accepted edges, the denied ones are left.
	pick("#f-dest", "")
	if err := chromedp.Do(ctx, chromedp.Click(`input[name=verdict][value=accept]`)); err != nil {
		t.Fatal(err)
	}
	var denied []string
	for _, e := range laptopEdges {
		if strings.Contains(e, ": deny ") {
			denied = append(denied, e)
		}
	}
	check("denied", shown(), []string{
		"qube default-dvm",
		"qube disp4211",
		"qube personal",
		"qube untrusted",
		"qube work",
		"firewall mirage-fw",
		"firewall sys-firewall",
		"dest 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16",
		"dest 10.0.0.0/9, 10.128.0.0/13, 10.136.0.0/16, 10.137.0.0/29, 10.137.0.8, 10.137.0.10/31, 10.137.0.12/30, 10.137.0.16/28, 10.137.0.32/27, 10.137.0.64/26, 10.137.0.128/25, 10.137.1.0/24, 10.137.2.0/23, 10.137.4.0/22, 10.137.8.0/21, 10.137.16.0/20, 10.137.32.0/19, 10.137.64.0/18, 10.137.128.0/17, 10.138.0.0/15, 10.140.0.0/14, 10.144.0.0/12, 10.160.0.0/11, 10.192.0.0/10, 172.16.0.0/12, 192.168.0.0/16",
		"dest 10.137.0.9",
	}, denied)
	// Show all brings every node and edge back.
	if err := chromedp.Do(ctx, chromedp.Click(`button[type=reset]`), chromedp.Sleep(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	check("reset", shown(), laptopNodes, laptopEdges)
	status, err := chromedp.Run(ctx, chromedp.Text("#status"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "27 of 27 edges shown"; status != want {
		t.Errorf("status %q, want %q", status, want)
	}

	// Let the last messages come, then stop reading them.
	if err := chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	stopConsole()
	<-read
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page logged:\n%s", strings.Join(problems, "\n"))
	}
	if !slices.Equal(requests, []string{url}) {
		t.Errorf("the page made requests %q, want only its own %q", requests, url)
	}
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
	"dest 10.0.0.0/9, 10.128.0.0/13, 10.136.0.0/16, 10.137.0.0/29, 10.137.0.8, 10.137.0.10/31, 10.137.0.12/30, 10.137.0.16/28, 10.137.0.32/27, 10.137.0.64/26, 10.137.0.128/25, 10.137.1.0/24, 10.137.2.0/23, 10.137.4.0/22, 10.137.8.0/21, 10.137.16.0/20, 10.137.32.0/19, 10.137.64.0/18, 10.137.128.0/17, 10.138.0.0/15, 10.140.0.0/14, 10.144.0.0/12, 10.160.0.0/11, 10.192.0.0/10, 172.16.0.0/12, 192.168.0.0/16",
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
	"personal, behind mirage-fw: deny any protocol to 10.0.0.0/9, 10.128.0.0/13, 10.136.0.0/16, 10.137.0.0/29, 10.137.0.8, 10.137.0.10/31, 10.137.0.12/30, 10.137.0.16/28, 10.137.0.32/27, 10.137.0.64/26, 10.137.0.128/25, 10.137.1.0/24, 10.137.2.0/23, 10.137.4.0/22, 10.137.8.0/21, 10.137.16.0/20, 10.137.32.0/19, 10.137.64.0/18, 10.137.128.0/17, 10.138.0.0/15, 10.140.0.0/14, 10.144.0.0/12, 10.160.0.0/11, 10.192.0.0/10, 172.16.0.0/12, 192.168.0.0/16, except tcp 53; udp 53 to 10.139.1.1, 10.139.1.2; icmp types 0, 3, 8, 11 to 192.168.1.0/28, 192.168.1.16/30, 192.168.1.21, 192.168.1.22/31, 192.168.1.24/29, 192.168.1.32/27, 192.168.1.64/26, 192.168.1.128/25 and tcp 445, 2049; icmp types 0, 3, 8, 11 to 192.168.1.20 by deny.lan (profiles.cue:19:9)",
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
