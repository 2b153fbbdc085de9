package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/resultstest"
	"github.com/pushbench/pushbench/results"
)

// faultsFixture is a small report of two fault scenarios: "faults" with
// crash (every transport breaks and recovers) and degrade (nothing breaks),
// and "storm" with and without jitter (server samples). Every figure is
// fixed, so the rendering is too.
func faultsFixture() *results.Report {
	r := &results.Report{
		Env: results.Env{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26"},
		Scenarios: []results.ScenarioInfo{
			{Name: "faults", Kind: contract.FaultKind, Description: "server and network faults mid-stream"},
			{Name: "storm", Kind: contract.FaultKind, Description: "a reconnect storm with and without jitter"},
		},
	}
	set := results.FaultSettings{
		Before: 2 * time.Second, After: 2 * time.Second, Downtime: time.Second, Length: 8 * time.Second,
		Latency: 200 * time.Millisecond, LatencyJitter: 100 * time.Millisecond, BandwidthKBs: 64, SlowClose: 2 * time.Second,
		Heartbeat: time.Second, Retry: time.Second,
		PollInterval: time.Second, SSERetry: 3 * time.Second, BackoffMin: 100 * time.Millisecond,
		BackoffMax: 5 * time.Second, ReadTimeout: 5 * time.Second,
	}
	q := func(p50, p99, mx float64) results.Latency { // ms
		ns := func(ms float64) int64 { return int64(ms * 1e6) }
		return results.Latency{Count: 50, P50: ns(p50), P99: ns(p99), Max: ns(mx)}
	}
	type figs struct {
		detect, reconnect, catchUp float64 // p99s, ms
		replayed, attempts, failed uint64
	}
	for _, tr := range []struct {
		name string
		figs
	}{
		{"poll", figs{999, 2009, 1013, 11025, 110, 60}},
		{"sse", figs{3.18, 2024, 12, 10068, 100, 50}},
		{"ws", figs{3.6, 2720, 12.2, 8143, 243, 193}},
		{"tcp", figs{3.75, 3953, 10.8, 9039, 250, 200}},
	} {
		r.Faults = append(r.Faults, results.FaultRun{
			Scenario: "faults", Transport: contract.Transport(tr.name), Fault: "crash", Jitter: contract.FullJitter, Clients: 50, Rate: 100, Payload: 64,
			Settings: set, FaultAt: 2000,
			Recovery: results.Recovery{Clients: 50, Broken: 50, Reconnected: 50, CaughtUp: 50,
				Detect: q(tr.detect/2, tr.detect, tr.detect), Reconnect: q(tr.reconnect/2, tr.reconnect, tr.reconnect),
				CatchUp: q(tr.catchUp/2, tr.catchUp, tr.catchUp), Replayed: tr.replayed, Attempts: tr.attempts, FailedAttempts: tr.failed},
			Delivery:  results.Delivery{Expected: 30000, Delivered: 30000},
			LatencyNS: q(2, 900, 2100),
			Timeline:  timelineFixture(50, 2000, 1000, 2000),
		})
	}
	for i, tr := range []contract.Transport{"poll", "sse", "ws", "tcp"} {
		r.Faults = append(r.Faults, results.FaultRun{
			Scenario: "faults", Transport: tr, Fault: "degrade", Jitter: contract.FullJitter, Clients: 50, Rate: 100, Payload: 64,
			Settings: set, FaultAt: 2000,
			Recovery:  results.Recovery{Clients: 50},
			Delivery:  results.Delivery{Expected: 60000, Delivered: 60000},
			LatencyNS: q(240+float64(i), 300+float64(i), 310+float64(i)),
			Timeline:  timelineFixture(50, 2000, 0, 0),
		})
	}
	for i, tr := range []contract.Transport{"sse", "ws"} {
		for j, jit := range []contract.Jitter{contract.FullJitter, contract.NoJitter} {
			d := float64(i + 1 + 2*j)
			set := set
			set.RetryJitter = jit == contract.FullJitter
			run := results.FaultRun{
				Scenario: "storm", Transport: tr, Fault: "storm", Jitter: jit, Clients: 5000, Rate: 2, Payload: 64,
				Settings: set, FaultAt: 12000,
				Recovery: results.Recovery{Clients: 5000, Broken: 5000, Reconnected: 5000, CaughtUp: 5000,
					Detect: q(400*d, 650*d, 652*d), Reconnect: q(1800/d, 2000/d, 2100/d), CatchUp: q(350, 600, 675),
					Replayed: 17559, Attempts: 5000 * uint64(i+1), FailedAttempts: 5000 * uint64(i)},
				Delivery:  results.Delivery{Expected: 175000, Delivered: 175000},
				LatencyNS: q(300, 2500, 2700),
				Timeline:  timelineFixture(5000, 12000, 0, 2500),
			}
			run.Server = resultstest.StormSamples(d)
			r.Faults = append(r.Faults, run)
		}
	}
	return r
}

// timelineFixture is clients streaming 100 events/s each, every one dropped
// at faultAt for down ms, then back over rise ms.
func timelineFixture(clients int, faultAt, down, rise int64) []results.Sample {
	var out []results.Sample
	for at := int64(0); at <= faultAt+down+rise+2000; at += 100 {
		s := results.Sample{At: at, Connected: clients}
		switch {
		case at >= faultAt && at < faultAt+down:
			s.Connected = 0
		case at >= faultAt+down && at < faultAt+down+rise:
			s.Connected = int(int64(clients) * (at - faultAt - down) / rise)
		}
		if at > 0 {
			s.Delivered = uint64(s.Connected) * 10
		}
		out = append(out, s)
	}
	return out
}

// recoveryMarkdown renders r's Recovery section, after drawing its plots.
func recoveryMarkdown(t *testing.T, r *results.Report) string {
	t.Helper()
	plots, err := writePlots(t.TempDir(), r)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	m := &errWriter{w: &b}
	m.recovery(r, plots, map[string]bool{})
	if m.err != nil {
		t.Fatal(m.err)
	}
	return b.String()
}

func TestRecoveryMarkdownGolden(t *testing.T) {
	golden(t, "recovery.md", []byte(recoveryMarkdown(t, faultsFixture())))
}

// sentence is the verdict line of fault's section.
func sentence(t *testing.T, md, fault string) string {
	t.Helper()
	_, sec, ok := strings.Cut(md, "#### "+fault+"\n")
	if !ok {
		t.Fatalf("no section %q in\n%s", fault, md)
	}
	sec, _, _ = strings.Cut(sec, "\n#### ")
	for _, line := range strings.Split(sec, "\n") {
		if strings.Contains(line, " first (") || strings.HasPrefix(line, "No client noticed") {
			return line
		}
	}
	t.Fatalf("no verdict in section %q:\n%s", fault, sec)
	return ""
}

func TestRecoverySentenceFollowsData(t *testing.T) {
	r := faultsFixture()
	s := sentence(t, recoveryMarkdown(t, r), "crash")
	for _, want := range []string{
		"SSE detected the break first (p99 3.18ms), WebSocket took 1.13× as long and polling 314× as long",
		"SSE recovered first (detect + reconnect + catch-up p99s: 2.04s), WebSocket took 1.34× as long and polling 1.97× as long",
		"Every client of every run got every event exactly once and in order.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("crash verdict lacks %q:\n%s", want, s)
		}
	}

	// Flip the data: polling now notices and recovers first, and WebSocket
	// loses and duplicates events.
	for i := range r.Faults {
		f := &r.Faults[i]
		if f.Fault != "crash" {
			continue
		}
		switch f.Transport {
		case "poll":
			f.Recovery.Detect.P99, f.Recovery.Reconnect.P99 = 1e6, 100e6 // ns
		case "ws":
			f.Delivery.Lost, f.Delivery.Duplicates = 7, 1
		}
	}
	md := recoveryMarkdown(t, r)
	s = sentence(t, md, "crash")
	for _, want := range []string{
		"Polling detected the break first (p99 1ms), SSE took 3.18× as long",
		"polling recovered first (detect + reconnect + catch-up p99s: 1.11s)",
		"**WebSocket lost 7 events and duplicated 1 event.**",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("flipped crash verdict lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "exactly once") {
		t.Errorf("verdict claims exactly once despite loss:\n%s", s)
	}
	if c := faultCorrectness(r.Faults); len(c) != 2 || !strings.Contains(c[0], "1 of 12 completed runs broke the guarantee") ||
		!strings.Contains(c[1], "faults crash WebSocket: 7 lost, 1 duplicated") {
		t.Errorf("faultCorrectness = %q, want the WebSocket crash run named", c)
	}

	// A fault that broke nothing is judged on latency.
	s = sentence(t, md, "degrade")
	if want := "No client noticed a break; polling kept the lowest latency (p99 300ms), SSE took about as long (1×)"; !strings.Contains(s, want) {
		t.Errorf("degrade verdict lacks %q:\n%s", want, s)
	}

	// A storm run with and without jitter is ranked by both names.
	s = sentence(t, md, "storm")
	if want := "SSE, jitter detected the break first (p99 650ms), WebSocket, jitter took 2× as long and WebSocket, no jitter 4× as long"; !strings.Contains(s, want) {
		t.Errorf("storm verdict lacks %q:\n%s", want, s)
	}
}

func TestRecoveryMarkdownFlagsIncomplete(t *testing.T) {
	r := faultsFixture()
	r.Faults[1].Recovery.CaughtUp = 48          // SSE crash
	r.Faults[2].Error = "clients did not start" // WebSocket crash
	md := recoveryMarkdown(t, r)
	for _, want := range []string{
		"| SSE | 48 of 50 |",
		"| WebSocket | did not complete |",
		"SSE had 2 of 50 broken clients never catch up",
		"- WebSocket did not complete: clients did not start.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if s := sentence(t, md, "crash"); strings.Contains(s, "WebSocket took") {
		t.Errorf("a run that did not complete is ranked:\n%s", s)
	}
	if c := faultCorrectness(r.Faults); !strings.Contains(strings.Join(c, "\n"), "1 fault runs did not complete") {
		t.Errorf("faultCorrectness = %q, want the incomplete run counted", c)
	}
}

func TestRecoveryPlots(t *testing.T) {
	r := faultsFixture()
	// A fault without a timeline gets no plot.
	r.Faults = append(r.Faults, results.FaultRun{Scenario: "faults", Transport: "sse", Fault: "reset", Clients: 50, Error: "boom"})
	dir := t.TempDir()
	all, err := writePlots(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	var pngs []string
	for _, p := range all {
		if strings.Contains(p, "/recovery-") {
			pngs = append(pngs, p)
		}
	}
	want := []string{"plots/faults/recovery-crash.png", "plots/faults/recovery-degrade.png", "plots/storm/recovery-storm.png"}
	if !reflect.DeepEqual(pngs, want) {
		t.Fatalf("WritePlots = %q, want %q", pngs, want)
	}
	for _, p := range pngs {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if cfg.Width < 500 || cfg.Height < 200 {
			t.Errorf("%s is %d×%d", p, cfg.Width, cfg.Height)
		}
		svg, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(p, ".png")+".svg")))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("Connected clients")) || !bytes.Contains(svg, []byte("Test CPU")) {
			t.Errorf("%s's SVG twin lacks the plot or the machine", p)
		}
	}
	md := recoveryMarkdown(t, r)
	if !strings.Contains(md, "(plots/storm/recovery-storm.png)](plots/storm/recovery-storm.svg)") {
		t.Error("markdown does not embed the storm timeline")
	}
	if strings.Contains(md, "recovery-reset") {
		t.Error("markdown embeds a plot that was not drawn")
	}
}

// TestReportIncludesRecovery renders a whole report directory of fault runs
// alone: report.md has the Recovery section with each timeline embedded
// once, the fault runs in its correctness statement, and the terminal
// report each fault's verdict.
func TestReportIncludesRecovery(t *testing.T) {
	dir := t.TempDir()
	r := faultsFixture()
	if err := WriteDir(dir, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if !strings.Contains(md, "## Recovery\n") || !strings.Contains(md, "### Scenario: storm\n") {
		t.Error("report.md lacks the Recovery section")
	}
	if want := "Under faults, every client of all 12 completed fault runs got every event exactly once and in order: 1,060,000 of 1,060,000 expected deliveries."; !strings.Contains(md, want) {
		t.Errorf("report.md lacks %q", want)
	}
	if n := strings.Count(md, "(plots/storm/recovery-storm.png)"); n != 1 {
		t.Errorf("storm timeline embedded %d times, want once", n)
	}
	if strings.Contains(md, "## Other plots") {
		t.Error("recovery timelines fell through to Other plots")
	}
	var txt bytes.Buffer
	if err := NewTextReport(r)(&txt); err != nil {
		t.Fatal(err)
	}
	if want := "storm / storm: SSE, jitter detected the break first"; !strings.Contains(txt.String(), want) {
		t.Errorf("text report lacks %q:\n%s", want, txt.String())
	}
	// A faults-only report leaves out what only ordinary runs could fill.
	for name, out := range map[string]string{"report.md": md, "text report": txt.String()} {
		for _, absent := range []string{"No delivery was measured", "not measured", "No runs to compare", "Against the tcp floor"} {
			if strings.Contains(out, absent) {
				t.Errorf("faults-only %s says %q", name, absent)
			}
		}
	}
	// With an ordinary run beside the faults, those sections are back.
	r.Runs = append(r.Runs, results.Run{Scenario: "fanout", Transport: "sse", Clients: 1, Delivery: results.Delivery{Expected: 1, Delivered: 1}})
	var both bytes.Buffer
	if err := newMarkdownReport(r, nil)(&both); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(both.String(), "## Targets") || !strings.Contains(both.String(), "## Summary") {
		t.Error("a report with runs and faults lacks Targets or Summary")
	}
}

func TestPollingRowHasNoJitterLabel(t *testing.T) {
	if got := rowName(results.FaultRun{Transport: "poll", Jitter: contract.FullJitter}, true); got != "polling" {
		t.Errorf("rowName(poll) = %q, want \"polling\": polling has no jitter policy", got)
	}
	if got := rowName(results.FaultRun{Transport: "ws", Jitter: contract.NoJitter}, true); got != "WebSocket, no jitter" {
		t.Errorf("rowName(ws, none) = %q", got)
	}
}
