package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/loadgen"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// outcomeFixture is a small run of three faults: crash (every transport
// breaks and recovers), degrade (nothing breaks) and storm (server samples).
// Every figure is fixed, so the rendering is too.
func outcomeFixture() *Outcome {
	o := &Outcome{Config: Config{
		Clients: 50, StormClients: 5000, Rate: 100, StormRate: 2, Payload: 64,
		Before: 2 * time.Second, After: 2 * time.Second, Downtime: time.Second, Partition: 8 * time.Second,
		Latency: 200 * time.Millisecond, Jitter: 100 * time.Millisecond, BandwidthKBs: 64, SlowClose: 2 * time.Second,
		Heartbeat: time.Second, Retry: time.Second,
		Policies: Policies{PollInterval: time.Second, SSERetry: 3 * time.Second, BackoffMin: 100 * time.Millisecond,
			BackoffMax: 5 * time.Second, Jitter: "sse: none; ws, tcp: full jitter; poll: none", ReadTimeout: 5 * time.Second},
	}}
	q := func(p50, p99, mx float64) loadgen.Quantiles {
		return loadgen.Quantiles{N: 50, P50: p50, P99: p99, Max: mx}
	}
	type figs struct {
		detect, reconnect, catchUp float64 // p99s, ms
		replayed, attempts, failed uint64
	}
	for _, tr := range []struct {
		name string
		figs
	}{
		{loadgen.Poll, figs{999, 2009, 1013, 11025, 110, 60}},
		{loadgen.SSE, figs{3.18, 2024, 12, 10068, 100, 50}},
		{loadgen.WS, figs{3.6, 2720, 12.2, 8143, 243, 193}},
		{loadgen.TCP, figs{3.75, 3953, 10.8, 9039, 250, 200}},
	} {
		o.Runs = append(o.Runs, Run{
			Transport: tr.name, Fault: "crash", Clients: 50, FaultAt: 2000,
			Recovery: loadgen.Recovery{Clients: 50, Broken: 50, Reconnected: 50, CaughtUp: 50,
				Detect: q(tr.detect/2, tr.detect, tr.detect), Reconnect: q(tr.reconnect/2, tr.reconnect, tr.reconnect),
				CatchUp: q(tr.catchUp/2, tr.catchUp, tr.catchUp), Replayed: tr.replayed, Attempts: tr.attempts, FailedAttempts: tr.failed},
			Counts:   loadgen.Counts{Expected: 30000, Delivered: 30000, Attempts: tr.attempts + 50, Connects: 100},
			Latency:  q(2, 900, 2100),
			Timeline: timelineFixture(50, 2000, 1000, 2000),
		})
	}
	for i, tr := range []string{loadgen.Poll, loadgen.SSE, loadgen.WS, loadgen.TCP} {
		o.Runs = append(o.Runs, Run{
			Transport: tr, Fault: "degrade", Clients: 50, FaultAt: 2000,
			Recovery: loadgen.Recovery{Clients: 50},
			Counts:   loadgen.Counts{Expected: 60000, Delivered: 60000, Attempts: 50, Connects: 50},
			Latency:  q(240+float64(i), 300+float64(i), 310+float64(i)),
			Timeline: timelineFixture(50, 2000, 0, 0),
		})
	}
	for i, tr := range []string{loadgen.SSE, loadgen.WS} {
		d := float64(i + 1)
		run := Run{
			Transport: tr, Fault: "storm", Clients: 5000, FaultAt: 12000,
			Recovery: loadgen.Recovery{Clients: 5000, Broken: 5000, Reconnected: 5000, CaughtUp: 5000,
				Detect: q(400*d, 650*d, 652*d), Reconnect: q(1800/d, 2000/d, 2100/d), CatchUp: q(350, 600, 675),
				Replayed: 17559, Attempts: 5000 * uint64(i+1), FailedAttempts: 5000 * uint64(i)},
			Counts:   loadgen.Counts{Expected: 175000, Delivered: 175000},
			Latency:  q(300, 2500, 2700),
			Timeline: timelineFixture(5000, 12000, 0, 2500),
		}
		// The server: 1000 accepts/s and half a core before the storm,
		// 4000·d accepts/s and a core and a half for two seconds after.
		for at := int64(11000); at <= 16000; at += 100 {
			s := ServerSample{At: at, Up: true}
			if n := len(run.Server); n > 0 {
				prev := run.Server[n-1]
				acc, cpu := 100.0, 0.05
				if at > 12000 && at <= 14000 {
					acc, cpu = 400*d, 0.15
				}
				s.Accepted, s.CPUSeconds = prev.Accepted+uint64(acc), prev.CPUSeconds+cpu
			}
			run.Server = append(run.Server, s)
		}
		o.Runs = append(o.Runs, run)
	}
	return o
}

// timelineFixture is clients streaming 100 events/s each, every one dropped
// at faultAt for down ms, then back over rise ms.
func timelineFixture(clients int, faultAt, down, rise int64) []loadgen.Sample {
	var out []loadgen.Sample
	for at := int64(0); at <= faultAt+down+rise+2000; at += 100 {
		s := loadgen.Sample{At: at, Connected: clients}
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

func markdown(t *testing.T, o *Outcome) string {
	t.Helper()
	var b bytes.Buffer
	if err := o.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRecoveryMarkdownGolden(t *testing.T) {
	o := outcomeFixture()
	if _, err := o.WritePlots(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	got := markdown(t, o)
	golden := filepath.Join("testdata", "recovery.md.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("markdown differs from %s (run with -update after checking):\n%s", golden, got)
	}
}

// sentence is the verdict line of fault's section.
func sentence(t *testing.T, md, fault string) string {
	t.Helper()
	_, sec, ok := strings.Cut(md, "### "+fault+"\n")
	if !ok {
		t.Fatalf("no section %q in\n%s", fault, md)
	}
	sec, _, _ = strings.Cut(sec, "\n### ")
	for _, line := range strings.Split(sec, "\n") {
		if strings.Contains(line, " first (") || strings.HasPrefix(line, "No client noticed") {
			return line
		}
	}
	t.Fatalf("no verdict in section %q:\n%s", fault, sec)
	return ""
}

func TestRecoverySentenceFollowsData(t *testing.T) {
	o := outcomeFixture()
	s := sentence(t, markdown(t, o), "crash")
	for _, want := range []string{
		"SSE detected the break first (p99 3.18ms), WebSocket took 1.13× as long and polling 314× as long",
		"SSE recovered first (detect + reconnect + catch-up p99s: 2.04s), WebSocket took 1.34× as long and polling 1.97× as long",
		"Every transport delivered every event exactly once.",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("crash verdict lacks %q:\n%s", want, s)
		}
	}

	// Flip the data: polling now notices and recovers first, and WebSocket
	// loses and duplicates events.
	for i := range o.Runs {
		r := &o.Runs[i]
		if r.Fault != "crash" {
			continue
		}
		switch r.Transport {
		case loadgen.Poll:
			r.Recovery.Detect.P99, r.Recovery.Reconnect.P99 = 1, 100
		case loadgen.WS:
			r.Counts.Lost, r.Counts.Duplicates = 7, 1
		}
	}
	s = sentence(t, markdown(t, o), "crash")
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

	// A fault that broke nothing is judged on latency.
	s = sentence(t, markdown(t, o), "degrade")
	if want := "No client noticed a break; polling kept the lowest latency (p99 300ms), SSE took about as long (1×)"; !strings.Contains(s, want) {
		t.Errorf("degrade verdict lacks %q:\n%s", want, s)
	}
}

func TestRecoveryMarkdownFlagsIncomplete(t *testing.T) {
	o := outcomeFixture()
	o.Runs[1].Recovery.CaughtUp = 48          // SSE crash
	o.Runs[2].Error = "clients did not start" // WebSocket crash
	md := markdown(t, o)
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
}

func TestStormPeaks(t *testing.T) {
	o := outcomeFixture()
	ws := o.Runs[len(o.Runs)-1]
	got := ws.Storm()
	// 800 accepts/100ms and 0.15 CPU-s/100ms for the two seconds after the
	// fault: 8000/s and 1.5 cores over any one-second window inside them.
	if got.PeakAcceptsPerSec != 8000 || got.PeakCPU < 1.49 || got.PeakCPU > 1.51 {
		t.Errorf("Storm() = %+v, want 8000 accepts/s and 1.5 cores", got)
	}

	// A sample that arrived late and its successor early must not read as
	// a spike, and a restart (counters back to zero) must not count.
	var base ServerSample
	for i := range ws.Server {
		s := &ws.Server[i]
		switch {
		case s.At == 13000:
			s.At = 13090 // a late answer: the next comes 10 ms after it
		case s.At == 14900:
			base = *s
		case s.At >= 15000: // restarted at 14950: counting from zero again
			s.Accepted -= base.Accepted
			s.CPUSeconds -= base.CPUSeconds
		}
	}
	got = ws.Storm()
	if got.PeakAcceptsPerSec > 8000*1.11 || got.PeakCPU > 1.5*1.11 {
		t.Errorf("Storm() with jittered samples = %+v, want within 11%% of 8000/s and 1.5 cores", got)
	}

	if s := (Run{}).Storm(); s != (Storm{}) {
		t.Errorf("Storm() without samples = %+v, want zero", s)
	}
}

func TestWritePlots(t *testing.T) {
	o := outcomeFixture()
	// A fault without a timeline gets no plot.
	o.Runs = append(o.Runs, Run{Transport: loadgen.SSE, Fault: "reset", Clients: 50, Error: "boom"})
	dir := t.TempDir()
	pngs, err := o.WritePlots(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"plots/recovery/crash.png", "plots/recovery/degrade.png", "plots/recovery/storm.png"}
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
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("Connected clients")) {
			t.Errorf("%s's SVG twin lacks the plot", p)
		}
	}
	md := markdown(t, o)
	if !strings.Contains(md, "(plots/recovery/storm.png)](plots/recovery/storm.svg)") {
		t.Error("markdown does not embed the storm timeline")
	}
	if strings.Contains(md, "plots/recovery/reset") {
		t.Error("markdown embeds a plot that was not drawn")
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(empty dir) = %v, want fs.ErrNotExist", err)
	}
	o := outcomeFixture()
	if err := o.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Error("Load(Save(o)) differs from o")
	}
	// The names `pushbench faults` has always written.
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Config map[string]json.RawMessage   `json:"config"`
		Runs   []map[string]json.RawMessage `json:"runs"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"storm_clients", "server_sse_retry_ns", "policies"} {
		if _, ok := raw.Config[k]; !ok {
			t.Errorf("config lacks %q", k)
		}
	}
	for _, k := range []string{"fault_at_ms", "recovery", "counts", "latency", "timeline", "server"} {
		if _, ok := raw.Runs[0][k]; !ok {
			t.Errorf("run lacks %q", k)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(bad JSON) = %v, want a decoding error", err)
	}
}
