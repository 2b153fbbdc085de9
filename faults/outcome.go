package faults

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pushbench/pushbench/internal/jsonfile"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
	"github.com/pushbench/pushbench/servers"
)

// FileName is the outcome's file inside a report directory.
const FileName = "faults.json"

// Outcome is what `pushbench faults` measured: its settings, and one Run per
// fault and transport, in the order they ran.
type Outcome struct {
	Config Config `json:"config"`
	Runs   []Run  `json:"runs"`

	// plots are the images WritePlots drew, by fault, relative to the
	// report directory; WriteMarkdown embeds them.
	plots map[string]string
}

// Config is one invocation's settings; every field is reported.
type Config struct {
	Clients      int           `json:"clients"`
	StormClients int           `json:"storm_clients"`
	Rate         float64       `json:"rate"`
	StormRate    float64       `json:"storm_rate"`
	Payload      int           `json:"payload"`
	Before       time.Duration `json:"before_ns"`
	After        time.Duration `json:"after_ns"`
	Downtime     time.Duration `json:"downtime_ns"`
	Partition    time.Duration `json:"partition_ns"`
	Latency      time.Duration `json:"latency_ns"`
	Jitter       time.Duration `json:"jitter_ns"`
	BandwidthKBs int64         `json:"bandwidth_kbs"`
	SlowClose    time.Duration `json:"slow_close_ns"`
	Heartbeat    time.Duration `json:"server_heartbeat_ns"`
	Retry        time.Duration `json:"server_sse_retry_ns"`
	// Policies are the clients' reconnection settings (loadgen.Options).
	Policies Policies `json:"policies"`
}

// Policies are the clients' reconnection settings.
type Policies struct {
	PollInterval time.Duration `json:"poll_interval_ns"`
	SSERetry     time.Duration `json:"sse_retry_until_server_says_ns"`
	BackoffMin   time.Duration `json:"ws_tcp_backoff_min_ns"`
	BackoffMax   time.Duration `json:"ws_tcp_backoff_max_ns"`
	Jitter       string        `json:"jitter"`
	ReadTimeout  time.Duration `json:"read_timeout_ns"`
}

// Run is one fault against one transport.
type Run struct {
	Transport string `json:"transport"`
	Fault     string `json:"fault"`
	Clients   int    `json:"clients"`
	// FaultAt is when the fault began, in ms on the timelines' clock.
	FaultAt  int64            `json:"fault_at_ms"`
	Recovery loadgen.Recovery `json:"recovery"`
	Counts   loadgen.Counts   `json:"counts"`
	// Latency is delivery latency of events scheduled from when every
	// client streamed to the end of the run, from each event's scheduled
	// time: the fault's cost included.
	Latency  loadgen.Quantiles `json:"latency"`
	Timeline []loadgen.Sample  `json:"timeline"`
	Server   []ServerSample    `json:"server"`
	Notes    []string          `json:"notes,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// ServerSample is the server's /stats at one instant of the timeline.
type ServerSample struct {
	At int64 `json:"at_ms"`
	// Up is false when /stats did not answer (the server is down).
	Up         bool    `json:"up"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Accepted is streams opened plus polls answered since the server
	// (re)started: its difference between samples is the accept rate. The
	// TCP floor's connections are not in /stats.
	Accepted uint64 `json:"accepted"`
}

// Save writes o to dir/FileName, creating dir if needed, through a
// temporary file and a rename, so a reader never sees half of it.
func (o *Outcome) Save(dir string) error {
	if err := jsonfile.Save(dir, FileName, o); err != nil {
		return fmt.Errorf("save faults outcome: %w", err)
	}
	return nil
}

// Load reads dir/FileName. A directory without one gives an error that
// errors.Is(err, fs.ErrNotExist) recognizes: no fault run was recorded.
func Load(dir string) (*Outcome, error) {
	var o Outcome
	if err := jsonfile.Load(dir, FileName, &o); err != nil {
		return nil, fmt.Errorf("load faults outcome: %w", err)
	}
	return &o, nil
}

// Faults lists the faults that ran, in the order they ran.
func (o *Outcome) Faults() []string {
	var out []string
	for _, r := range o.Runs {
		if !slices.Contains(out, r.Fault) {
			out = append(out, r.Fault)
		}
	}
	return out
}

// runsOf is the runs of fault, in the order they ran.
func (o *Outcome) runsOf(fault string) []Run {
	var out []Run
	for _, r := range o.Runs {
		if r.Fault == fault {
			out = append(out, r)
		}
	}
	return out
}

// broke says whether a run measured a recovery: it completed and some
// client noticed a break.
func (r Run) broke() bool { return r.Error == "" && r.Recovery.Broken > 0 }

// RecoveryMS is the run's time to recover, detect + reconnect + catch-up, as
// the sum of the three p99s over clients, in ms: a bound on the slowest
// 1% of clients, as each p99 may be another client's.
func (r Run) RecoveryMS() float64 {
	rc := r.Recovery
	return rc.Detect.P99 + rc.Reconnect.P99 + rc.CatchUp.P99
}

// Storm is the server's side of a run from its fault on.
type Storm struct {
	// PeakAcceptsPerSec is the most streams opened plus polls answered per
	// second over a StormWindow; zero when the server counted none (the
	// TCP floor's connections are not in /stats).
	PeakAcceptsPerSec float64
	// PeakCPU is the most CPU the server used over a StormWindow, in cores
	// (1 = one core busy).
	PeakCPU float64
}

// StormWindow is the span Storm's rates are taken over. The samples are
// 100 ms apart as the sampler asked for them, but each is timed when the
// server's answer arrived: under a storm one answer can come 200 ms late and
// the next 10 ms after it, so a rate over one interval can read more cores
// than the machine has. Over a second that error is a few percent.
const StormWindow = time.Second

// Storm reads the server's samples from the fault on, over every window of
// at least StormWindow between two samples with the server up throughout
// and not restarted (its counters never went back).
func (r Run) Storm() Storm {
	var s Storm
	win := StormWindow.Milliseconds()
	for i, a := range r.Server {
		if !a.Up || a.At < r.FaultAt {
			continue
		}
		for _, b := range r.Server[i+1:] {
			if !b.Up || b.Accepted < a.Accepted || b.CPUSeconds < a.CPUSeconds {
				break // down or restarted: no rate across it
			}
			if b.At-a.At < win {
				continue
			}
			dt := float64(b.At-a.At) / 1e3
			s.PeakAcceptsPerSec = max(s.PeakAcceptsPerSec, float64(b.Accepted-a.Accepted)/dt)
			s.PeakCPU = max(s.PeakCPU, (b.CPUSeconds-a.CPUSeconds)/dt)
			break
		}
	}
	return s
}

// transportNames are the transports as the report names them.
var transportNames = map[string]string{
	loadgen.Poll: "polling",
	loadgen.SSE:  "SSE",
	loadgen.WS:   "WebSocket",
	loadgen.TCP:  "TCP floor",
}

func transportName(t string) string {
	if n, ok := transportNames[t]; ok {
		return n
	}
	return t
}

// describe says what fault did, with the run's settings.
func (c Config) describe(fault string) string {
	d := results.FormatDuration
	switch fault {
	case "crash":
		return fmt.Sprintf("the server killed (SIGKILL) and restarted %s later on the same address and data", d(c.Downtime))
	case "graceful":
		return fmt.Sprintf("the server stopped (SIGTERM, graceful shutdown) and restarted %s later", d(c.Downtime))
	case "slowclose":
		return fmt.Sprintf("a graceful restart (%s down) while the network takes %s to pass on the server's close (Toxiproxy slow_close)", d(c.Downtime), d(c.SlowClose))
	case "reset":
		return fmt.Sprintf("every connection reset (RST) by the network, and new ones refused for %s, the server staying up", d(c.Downtime))
	case "partition":
		return fmt.Sprintf("no byte passing either way for %s and nothing closed (Toxiproxy timeout 0); healing closes the connections that went through it", d(c.Partition))
	case "degrade":
		bw := "unlimited bandwidth"
		if c.BandwidthKBs > 0 {
			bw = fmt.Sprintf("%d KB/s", c.BandwidthKBs)
		}
		return fmt.Sprintf("%s ± %s added latency and %s from the server for %s", d(c.Latency), d(c.Jitter), bw, d(c.Partition))
	case "storm":
		return fmt.Sprintf("all %s connections reset at once and let back at once: a reconnection storm, events at %s", results.FormatCount(uint64(max(c.StormClients, 0))), results.FormatRate(c.StormRate))
	}
	return ""
}

// WriteMarkdown writes the report's "Recovery" section: the client
// policies, then per fault a table by transport and a sentence naming the
// fastest to detect and to recover and any loss, with the fault's timeline
// when WritePlots drew it. As a method value it is a results.Reporter.
func (o *Outcome) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := o.Config
	d := results.FormatDuration

	p("## Recovery\n\n")
	p("`pushbench faults` ran each transport's clients through a Toxiproxy proxy, in-process on loopback, to a fresh `pushbench serve` with `--data` (a restart resumes history and schedule, as a production server's would). %s clients per transport streamed %s events/s of %d-byte payloads for %s, met the fault, and had to catch up, then streamed %s more. ",
		results.FormatCount(uint64(max(c.Clients, 0))), results.FormatSI(c.Rate), c.Payload, d(c.Before), d(c.After))
	p("Times are over the clients that noticed a break: *detect* from the fault to the client noticing (an error, a reset, the end of the stream, or its read timeout); *reconnect* from noticing to the connection that delivered; *catch-up* from that connection to having every event published before it (which includes waiting for the next event). *Replayed* is events resent from the client's cursor after reconnecting, *attempts* the connections (polling: requests) from noticing to reconnecting, *failed* those that did not deliver (refused dials, failed handshakes, connections that died silent). *Lost* and *duplicated* are exact, from every client's account of every event.\n\n")

	pol := c.Policies
	p("**Client policies.**\n\n")
	p("- SSE: reconnects after %s until the server sends `retry:` (it sends %s), with no jitter, as EventSource does; resumes with `Last-Event-ID`.\n", d(pol.SSERetry), d(c.Retry))
	p("- WebSocket and TCP: exponential backoff from %s to %s, with full jitter; they resume after their last event (the cursor in the URL or the request).\n", d(pol.BackoffMin), d(pol.BackoffMax))
	p("- Polling: asks for the events after its cursor every %s, and at once again when the answer says more is waiting.\n", d(pol.PollInterval))
	p("- Read timeout %s on every client (polling: the request's timeout). Server heartbeats: an SSE comment after %s of silence; WebSocket pings every %s (the server's default).\n\n", d(pol.ReadTimeout), d(c.Heartbeat), d(servers.DefaultPingInterval))

	for _, f := range o.Faults() {
		runs := o.runsOf(f)
		p("### %s\n\n", f)
		if desc := c.describe(f); desc != "" {
			clients := runs[0].Clients
			p("%s clients per transport; %s.\n\n", results.FormatCount(uint64(max(clients, 0))), desc)
		}
		if slices.ContainsFunc(runs, Run.broke) {
			writeRecoveryTable(p, f == "storm", runs)
		} else {
			writeLatencyTable(p, runs)
		}
		p("\n%s\n", summary(runs))
		for _, r := range runs {
			if r.Error != "" {
				p("\n- %s did not complete: %s.", transportName(r.Transport), r.Error)
			}
			for _, n := range r.Notes {
				p("\n- %s: %s.", transportName(r.Transport), n)
			}
		}
		if png, ok := o.plots[f]; ok {
			p("\n[![%s: connected clients and deliveries/s around the fault](%s)](%s)\n", f, png, strings.TrimSuffix(png, ".png")+".svg")
		}
		p("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRecoveryTable writes one row per transport of a fault that broke
// connections; storm adds the server's peak accept rate and CPU.
func writeRecoveryTable(p func(string, ...any), storm bool, runs []Run) {
	ms := func(v float64) string { return results.FormatNS(v * 1e6) }
	n := results.FormatCount
	p("| transport | recovered | detect p50 | p99 | max | reconnect p50 | p99 | max | catch-up p50 | p99 | max | replayed | lost | duplicated | attempts | failed |")
	sep := "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	if storm {
		p(" peak accepts/s | peak server CPU |")
		sep += "--:|--:|"
	}
	p("\n%s\n", sep)
	floor := false
	for _, r := range runs {
		rc := r.Recovery
		if r.Error != "" {
			p("| %s | did not complete | | | | | | | | | | | | | | |", transportName(r.Transport))
			if storm {
				p(" | |")
			}
			p("\n")
			continue
		}
		p("| %s | %s of %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", transportName(r.Transport),
			n(uint64(rc.CaughtUp)), n(uint64(rc.Broken)), ms(rc.Detect.P50), ms(rc.Detect.P99), ms(rc.Detect.Max),
			ms(rc.Reconnect.P50), ms(rc.Reconnect.P99), ms(rc.Reconnect.Max),
			ms(rc.CatchUp.P50), ms(rc.CatchUp.P99), ms(rc.CatchUp.Max),
			n(rc.Replayed), lossCell(r.Counts.Lost), lossCell(r.Counts.Duplicates), n(rc.Attempts), n(rc.FailedAttempts))
		if storm {
			s := r.Storm()
			acc := "–"
			if s.PeakAcceptsPerSec > 0 {
				acc = results.FormatSI(s.PeakAcceptsPerSec)
			} else {
				floor = true
			}
			p(" %s | %s |", acc, results.FormatPercent(s.PeakCPU))
		}
		p("\n")
	}
	if storm {
		p("\nPeaks are over %s windows of the server's samples from the fault on; CPU in shares of one core.", results.FormatDuration(StormWindow))
		if floor {
			p(" – : the server counted no accepts (the TCP floor's connections are not in its /stats).")
		}
		p("\n")
	}
}

// writeLatencyTable writes one row per transport of a fault that broke no
// connection: what it cost is delivery latency.
func writeLatencyTable(p func(string, ...any), runs []Run) {
	ms := func(v float64) string { return results.FormatNS(v * 1e6) }
	p("| transport | breaks | latency p50 | p99 | max | delivered | lost | duplicated |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range runs {
		if r.Error != "" {
			p("| %s | did not complete | | | | | | |\n", transportName(r.Transport))
			continue
		}
		p("| %s | %d | %s | %s | %s | %s of %s | %s | %s |\n", transportName(r.Transport), r.Recovery.Broken,
			ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max),
			results.FormatCount(r.Counts.Delivered), results.FormatCount(r.Counts.Expected),
			lossCell(r.Counts.Lost), lossCell(r.Counts.Duplicates))
	}
	p("\nLatency is from each event's scheduled time to its arrival, over the whole run, the fault included.\n")
}

// lossCell renders a count that should be zero, bold when it is not.
func lossCell(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "**" + results.FormatCount(v) + "**"
}

// summary is the fault's verdict, from its data: which transport detected
// the break first and which recovered first (detect + reconnect + catch-up
// p99s), with how many times as long the others took, or for a fault that
// broke nothing the lowest p99 latency; then any loss, duplication or
// client that did not recover.
func summary(runs []Run) string {
	var ok []Run
	for _, r := range runs {
		if r.Error == "" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return "No run completed."
	}
	var s string
	ms := func(v float64) string { return results.FormatNS(v * 1e6) }
	if slices.ContainsFunc(ok, Run.broke) {
		var broke []Run
		for _, r := range ok {
			if r.broke() {
				broke = append(broke, r)
			}
		}
		s = capitalize(ranking(broke, "detected the break first", "p99", func(r Run) float64 { return r.Recovery.Detect.P99 }, ms)+"; "+
			ranking(broke, "recovered first", "detect + reconnect + catch-up p99s:", Run.RecoveryMS, ms)) + "."
	} else {
		s = "No client noticed a break; " + ranking(ok, "kept the lowest latency", "p99", func(r Run) float64 { return r.Latency.P99 }, ms) + "."
	}
	var bad []string
	for _, r := range ok {
		var what []string
		if r.Counts.Lost > 0 {
			what = append(what, "lost "+plural(r.Counts.Lost, "event"))
		}
		if r.Counts.Duplicates > 0 {
			what = append(what, "duplicated "+plural(r.Counts.Duplicates, "event"))
		}
		if rc := r.Recovery; rc.CaughtUp < rc.Broken {
			what = append(what, fmt.Sprintf("had %d of %d broken clients never catch up", rc.Broken-rc.CaughtUp, rc.Broken))
		}
		if len(what) > 0 {
			bad = append(bad, transportName(r.Transport)+" "+strings.Join(what, " and "))
		}
	}
	if len(bad) == 0 {
		return s + " Every transport delivered every event exactly once."
	}
	return s + " **" + capitalize(strings.Join(bad, "; ")) + ".**"
}

// ranking names the run with the lowest value and how many times as long
// the next and the slowest took: "TCP floor detected the break first (p99
// 2.16ms); SSE took 1.12× as long and polling 463×".
func ranking(runs []Run, what, label string, value func(Run) float64, format func(float64) string) string {
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b Run) int { return cmp.Compare(value(a), value(b)) })
	best := sorted[0]
	s := fmt.Sprintf("%s %s (%s %s)", transportName(best.Transport), what, label, format(value(best)))
	if len(sorted) > 1 {
		next := sorted[1]
		s += fmt.Sprintf(", %s took %s", transportName(next.Transport), asLong(value(next), value(best)))
	}
	if len(sorted) > 2 {
		last := sorted[len(sorted)-1]
		s += fmt.Sprintf(" and %s %s", transportName(last.Transport), asLong(value(last), value(best)))
	}
	return s
}

// asLong is "1.34× as long", or "about as long (1×)" when the ratio rounds
// to one.
func asLong(v, best float64) string {
	r := results.FormatRatio(v, best)
	if r == "1×" {
		return "about as long (1×)"
	}
	return r + " as long"
}

func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return results.FormatCount(n) + " " + what + "s"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
