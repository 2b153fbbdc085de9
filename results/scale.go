package results

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

// Idle is the traffic of connections held open with no event to send: SSE
// heartbeats, WebSocket pings and pongs, empty polls, with their headers.
type Idle struct {
	// Seconds is how long the connections were held idle.
	Seconds float64 `json:"seconds"`
	// BytesIn and BytesOut are counted at the clients' sockets.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// BytesPerSecPerConn is (in + out) / Seconds / clients.
	BytesPerSecPerConn float64 `json:"bytes_per_s_per_conn"`
}

// ScaleTargets are what a scale scenario is judged against.
type ScaleTargets struct {
	// Clients every transport should hold with nothing lost.
	Clients int
	// ServerBytesPerConn bounds server resident memory per idle SSE or
	// WebSocket connection; LoadgenBytesPerConn the load generator's per
	// connection of any transport.
	ServerBytesPerConn  float64
	LoadgenBytesPerConn float64
}

// DefaultScaleTargets are the targets of the scale work: 19,000 clients per
// transport (20,000 open files per process, less the generator's own), 16 KiB
// per connection on either side.
var DefaultScaleTargets = ScaleTargets{Clients: 19000, ServerBytesPerConn: 16 << 10, LoadgenBytesPerConn: 16 << 10}

// scaleRuns returns the scenario's runs by transport, then clients.
func scaleRuns(r *Report, scenario string) []Run {
	runs := r.RunsOf(scenario)
	slices.SortStableFunc(runs, func(a, b Run) int {
		return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS), cmp.Compare(a.Clients, b.Clients))
	})
	return runs
}

// scaleBound is the p99 a run must keep to hold its clients: the
// scenario's bound, plus the polling interval for pollers, whose latency is
// the interval by design.
func scaleBound(info ScenarioInfo, r *Run) float64 {
	return (info.P99BoundS + r.PollIntervalS) * 1e9
}

// scaleVerdict says whether the run held its clients: all connected at once,
// nothing lost, p99 within bound (when the scenario has one). why says what
// broke.
func scaleVerdict(info ScenarioInfo, r *Run) (held bool, why string) {
	switch {
	case r.Connections.PeakConcurrent < int64(r.Clients):
		return false, fmt.Sprintf("only %s of %s connected at once", FormatCount(uint64(max(r.Connections.PeakConcurrent, 0))), FormatCount(uint64(r.Clients)))
	case r.Lost+r.GapMissed > 0:
		return false, fmt.Sprintf("%s events lost", FormatCount(r.Lost+r.GapMissed))
	case info.P99BoundS > 0 && float64(r.LatencyNS.P99) > scaleBound(info, r):
		return false, fmt.Sprintf("p99 %s over %s", FormatNS(float64(r.LatencyNS.P99)), FormatNS(scaleBound(info, r)))
	}
	return true, ""
}

// lossless is the target's weaker test: every client connected and nothing
// lost, whatever the latency.
func lossless(r *Run) bool {
	return r.Connections.PeakConcurrent >= int64(r.Clients) && r.Lost+r.GapMissed == 0
}

// NewScaleReport renders a scale scenario's section body: one row per run
// (connect rate and time, failed connects, latency, memory per connection on
// both sides, idle traffic per connection), the most connections each
// transport held with p99 within the bound and nothing lost, and the targets
// with what was measured against them and by how much a missed one fell
// short.
func NewScaleReport(r *Report, scenario string, targets ScaleTargets, s Style) Reporter {
	return func(w io.Writer) error {
		m := &errWriter{w: w}
		info := r.Scenario(scenario)
		runs := scaleRuns(r, scenario)
		if len(runs) == 0 {
			return nil
		}
		t := table{cols: []column{
			left("transport"), right("clients"), right("connected"), right("failed"),
			right("connect/s"), right("connect p99"), right("p50"), right("p99"), right("lost"),
			right("srv RSS/conn"), right("srv heap/conn"), right("gen RSS/conn"), right("gen heap/conn"),
			right("idle B/s/conn"), left("held"),
		}}
		for i := range runs {
			run := &runs[i]
			held, why := scaleVerdict(info, run)
			verdict := "yes"
			if !held {
				verdict = "no: " + why
			}
			idle := "–"
			if run.Idle != nil {
				idle = sig3(run.Idle.BytesPerSecPerConn)
			}
			t.add(run.Config().Label(), FormatCount(uint64(run.Clients)),
				FormatCount(uint64(max(run.Connections.PeakConcurrent, 0))), FormatCount(run.Connections.Failed),
				FormatSI(run.Connections.ConnectRate), FormatNS(float64(run.Connections.ConnectP99NS)),
				FormatNS(float64(run.LatencyNS.P50)), FormatNS(float64(run.LatencyNS.P99)), FormatCount(run.Lost+run.GapMissed),
				FormatBytes(run.Server.BytesPerConn), FormatBytes(run.Server.HeapPerConn),
				FormatBytes(run.Loadgen.BytesPerConn), FormatBytes(run.Loadgen.HeapPerConn),
				idle, verdict)
		}
		m.table(func(w io.Writer) error { return t.render(w, s) })
		m.printf("\n")
		if info.P99BoundS > 0 {
			m.printf("Most concurrent clients held with p99 within %s (pollers: their interval plus %s) and nothing lost:\n\n",
				FormatNS(info.P99BoundS*1e9), FormatNS(info.P99BoundS*1e9))
		} else {
			m.printf("Most concurrent clients held with nothing lost:\n\n")
		}
		for _, label := range scaleLabels(runs) {
			best, bestRun := 0, (*Run)(nil)
			var broke []string
			for i := range runs {
				run := &runs[i]
				if run.Config().Label() != label {
					continue
				}
				if held, why := scaleVerdict(info, run); held {
					if run.Clients > best {
						best, bestRun = run.Clients, run
					}
				} else {
					broke = append(broke, FormatCount(uint64(run.Clients))+": "+why)
				}
			}
			line := fmt.Sprintf("- **%s**: none", label)
			if bestRun != nil {
				line = fmt.Sprintf("- **%s**: %s (p99 %s)", label, FormatCount(uint64(best)), FormatNS(float64(bestRun.LatencyNS.P99)))
			}
			if len(broke) > 0 {
				line += fmt.Sprintf("; broke at %s", strings.Join(broke, "; "))
			}
			m.printf("%s\n", line)
		}
		m.printf("\n")

		tt := table{cols: []column{left("target"), left("transport"), right("measured"), left("verdict")}}
		for _, label := range scaleLabels(runs) {
			most, at := 0, (*Run)(nil)
			for i := range runs {
				run := &runs[i]
				if run.Config().Label() != label {
					continue
				}
				if at == nil || run.Clients > at.Clients {
					at = run
				}
				if lossless(run) {
					most = max(most, run.Clients)
				}
			}
			tt.add(fmt.Sprintf("holds ≥ %s clients, nothing lost", FormatCount(uint64(targets.Clients))), label,
				FormatCount(uint64(most)), shortfall(float64(targets.Clients), float64(most), true, func(v float64) string { return FormatCount(uint64(v)) }))
			if at == nil {
				continue
			}
			where := fmt.Sprintf(" at %s", FormatCount(uint64(at.Clients)))
			if at.Transport == "sse" || at.Transport == "ws" {
				tt.add(fmt.Sprintf("server RSS ≤ %s per idle connection", FormatBytes(targets.ServerBytesPerConn)), label,
					FormatBytes(at.Server.BytesPerConn)+where, shortfall(targets.ServerBytesPerConn, at.Server.BytesPerConn, false, FormatBytes))
			}
			tt.add(fmt.Sprintf("load generator RSS ≤ %s per connection", FormatBytes(targets.LoadgenBytesPerConn)), label,
				FormatBytes(at.Loadgen.BytesPerConn)+where, shortfall(targets.LoadgenBytesPerConn, at.Loadgen.BytesPerConn, false, FormatBytes))
		}
		m.table(func(w io.Writer) error { return tt.render(w, s) })
		m.printf("\n*connected* is the most connections open at once; *connect/s* clients connected per second of the connect phase (the generator paces dials); " +
			"*srv* and *gen RSS/conn* are resident-memory growth per connection while every connection is open and idle, *heap/conn* the Go heap's part of it; " +
			"*idle B/s/conn* is bytes both ways per connection while idle: heartbeats, pings and empty polls with their headers.\n")
		return m.err
	}
}

// scaleLabels are the transport labels of runs, in table order.
func scaleLabels(runs []Run) []string {
	var out []string
	for i := range runs {
		if l := runs[i].Config().Label(); !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// shortfall is the verdict on a measured value against a target: at least
// the target when atLeast, else at most.
func shortfall(target, got float64, atLeast bool, format func(float64) string) string {
	if atLeast && got >= target || !atLeast && got <= target {
		return "met"
	}
	d := got - target
	if atLeast {
		d = target - got
	}
	return fmt.Sprintf("missed by %s (%s)", format(d), FormatPercent(d/target))
}
