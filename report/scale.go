package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// scaleTargets are what a scale scenario is judged against.
type scaleTargets struct {
	// Clients every transport should hold with nothing lost.
	Clients int
	// ServerBytesPerConn bounds server resident memory per idle SSE or
	// WebSocket connection; LoadgenBytesPerConn the load generator's per
	// connection of any transport.
	ServerBytesPerConn  float64
	LoadgenBytesPerConn float64
}

// defaultScaleTargets are the targets of the scale work: 19,000 clients per
// transport (20,000 open files per process, less the generator's own), 16 KiB
// per connection on either side.
var defaultScaleTargets = scaleTargets{Clients: 19000, ServerBytesPerConn: 16 << 10, LoadgenBytesPerConn: 16 << 10}

// scaleRuns returns the scenario's runs by transport, then clients.
func scaleRuns(r *results.Report, scenario string) []results.Run {
	runs := r.RunsOf(scenario)
	slices.SortStableFunc(runs, func(a, b results.Run) int {
		return cmp.Or(contract.Order(a.Transport, b.Transport), cmp.Compare(a.Impl, b.Impl), cmp.Compare(a.PollIntervalS, b.PollIntervalS), cmp.Compare(a.Clients, b.Clients))
	})
	return runs
}

// scaleBound is the p99 a run must keep to hold its clients: the
// scenario's bound, plus the polling interval for pollers, whose latency is
// the interval by design.
func scaleBound(info results.ScenarioInfo, r *results.Run) float64 {
	return (info.P99BoundS + r.PollIntervalS) * 1e9
}

// scaleVerdict says whether the run held its clients: all connected at once,
// nothing lost, p99 within bound (when the scenario has one). why says what
// broke.
func scaleVerdict(info results.ScenarioInfo, r *results.Run) (held bool, why string) {
	switch {
	case r.Connections.PeakConcurrent < int64(r.Clients):
		return false, fmt.Sprintf("only %s of %s connected at once", formatCount(uint64(max(r.Connections.PeakConcurrent, 0))), formatCount(uint64(r.Clients)))
	case r.Lost+r.GapMissed > 0:
		return false, fmt.Sprintf("%s events lost", formatCount(r.Lost+r.GapMissed))
	case info.P99BoundS > 0 && float64(r.LatencyNS.P99) > scaleBound(info, r):
		return false, fmt.Sprintf("p99 %s over %s", FormatNS(float64(r.LatencyNS.P99)), FormatNS(scaleBound(info, r)))
	}
	return true, ""
}

// lossless is the target's weaker test: every client connected and nothing
// lost, whatever the latency.
func lossless(r *results.Run) bool {
	return r.Connections.PeakConcurrent >= int64(r.Clients) && r.Lost+r.GapMissed == 0
}

// newScaleReport renders a scale scenario's section body: one row per run
// (connect rate and time, failed connects, latency, memory per connection on
// both sides, idle traffic per connection), the most connections each
// transport held with p99 within the bound and nothing lost, and the targets
// with what was measured against them and by how much a missed one fell
// short.
func newScaleReport(r *results.Report, scenario string, targets scaleTargets, s style) Reporter {
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
			t.add(configOf(run).Label(), formatCount(uint64(run.Clients)),
				formatCount(uint64(max(run.Connections.PeakConcurrent, 0))), formatCount(run.Connections.Failed),
				FormatSI(run.Connections.ConnectRate), FormatNS(float64(run.Connections.ConnectP99NS)),
				FormatNS(float64(run.LatencyNS.P50)), FormatNS(float64(run.LatencyNS.P99)), formatCount(run.Lost+run.GapMissed),
				formatBytes(run.Server.BytesPerConn), formatBytes(run.Server.HeapPerConn),
				formatBytes(run.Loadgen.BytesPerConn), formatBytes(run.Loadgen.HeapPerConn),
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
			best, bestRun := 0, (*results.Run)(nil)
			var broke []string
			for i := range runs {
				run := &runs[i]
				if configOf(run).Label() != label {
					continue
				}
				if held, why := scaleVerdict(info, run); held {
					if run.Clients > best {
						best, bestRun = run.Clients, run
					}
				} else {
					broke = append(broke, formatCount(uint64(run.Clients))+": "+why)
				}
			}
			line := fmt.Sprintf("- **%s**: none", label)
			if bestRun != nil {
				line = fmt.Sprintf("- **%s**: %s (p99 %s)", label, formatCount(uint64(best)), FormatNS(float64(bestRun.LatencyNS.P99)))
			}
			if len(broke) > 0 {
				line += fmt.Sprintf("; broke at %s", strings.Join(broke, "; "))
			}
			m.printf("%s\n", line)
		}
		m.printf("\n")

		tt := table{cols: []column{left("target"), left("transport"), right("measured"), left("verdict")}}
		for _, label := range scaleLabels(runs) {
			most, at := 0, (*results.Run)(nil)
			for i := range runs {
				run := &runs[i]
				if configOf(run).Label() != label {
					continue
				}
				if at == nil || run.Clients > at.Clients {
					at = run
				}
				if lossless(run) {
					most = max(most, run.Clients)
				}
			}
			tt.add(fmt.Sprintf("holds ≥ %s clients, nothing lost", formatCount(uint64(targets.Clients))), label,
				formatCount(uint64(most)), shortfall(float64(targets.Clients), float64(most), true, func(v float64) string { return formatCount(uint64(v)) }))
			if at == nil {
				continue
			}
			where := fmt.Sprintf(" at %s", formatCount(uint64(at.Clients)))
			if at.Transport == "sse" || at.Transport == "ws" {
				tt.add(fmt.Sprintf("server RSS ≤ %s per idle connection", formatBytes(targets.ServerBytesPerConn)), label,
					formatBytes(at.Server.BytesPerConn)+where, shortfall(targets.ServerBytesPerConn, at.Server.BytesPerConn, false, formatBytes))
			}
			tt.add(fmt.Sprintf("load generator RSS ≤ %s per connection", formatBytes(targets.LoadgenBytesPerConn)), label,
				formatBytes(at.Loadgen.BytesPerConn)+where, shortfall(targets.LoadgenBytesPerConn, at.Loadgen.BytesPerConn, false, formatBytes))
		}
		m.table(func(w io.Writer) error { return tt.render(w, s) })
		m.printf("\n*connected* is the most connections open at once; *connect/s* clients connected per second of the connect phase (the generator paces dials); " +
			"*srv* and *gen RSS/conn* are resident-memory growth per connection while every connection is open and idle, *heap/conn* the Go heap's part of it; " +
			"*idle B/s/conn* is bytes both ways per connection while idle: heartbeats, pings and empty polls with their headers.\n")
		return m.err
	}
}

// scaleLabels are the transport labels of runs, in table order.
func scaleLabels(runs []results.Run) []string {
	var out []string
	for i := range runs {
		if l := configOf(&runs[i]).Label(); !slices.Contains(out, l) {
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
	return fmt.Sprintf("missed by %s (%s)", format(d), formatPercent(d/target))
}
