package report

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// faultScenarios returns the scenarios with fault runs: those in
// r.Scenarios first, in that order, then any other in order of first run.
func faultScenarios(r *results.Report) []string {
	var names []string
	for _, s := range r.Scenarios {
		if slices.ContainsFunc(r.Faults, func(f results.FaultRun) bool { return f.Scenario == s.Name }) {
			names = append(names, s.Name)
		}
	}
	for _, f := range r.Faults {
		if !slices.Contains(names, f.Scenario) {
			names = append(names, f.Scenario)
		}
	}
	return names
}

// faultGroup is one fault of one scenario: its runs, one per transport and
// jitter policy, in the order they ran.
type faultGroup struct {
	scenario string
	fault    contract.Fault
	runs     []results.FaultRun
}

// faultGroups splits the runs of scenario by fault, in order of first run.
func faultGroups(all []results.FaultRun, scenario string) []faultGroup {
	var out []faultGroup
	for _, r := range all {
		if r.Scenario != scenario {
			continue
		}
		i := slices.IndexFunc(out, func(g faultGroup) bool { return g.fault == r.Fault })
		if i < 0 {
			out = append(out, faultGroup{scenario: scenario, fault: r.Fault})
			i = len(out) - 1
		}
		out[i].runs = append(out[i].runs, r)
	}
	return out
}

// jitters reports whether the group's runs differ in jitter policy: then
// each row names its policy.
func (g faultGroup) jitters() bool {
	return slices.ContainsFunc(g.runs, func(r results.FaultRun) bool { return r.Jitter != g.runs[0].Jitter })
}

// plotStem is the group's timeline, relative to the report directory,
// without extension.
func (g faultGroup) plotStem() string {
	return path.Join(PlotsDir, slug(g.scenario), "recovery-"+slug(string(g.fault)))
}

// rowName names a run in its group's table and verdict: the transport, and
// its jitter policy where the group compares policies.
func rowName(r results.FaultRun, jitters bool) string {
	n := transportName(r.Transport)
	if !jitters || r.Transport == "poll" { // polling has no reconnect policy to jitter
		return n
	}
	if r.Jitter == contract.NoJitter {
		return n + ", no jitter"
	}
	return n + ", jitter"
}

// recovery writes the report's "Recovery" section from r.Faults: per fault
// scenario the load and the clients' policies, then per fault a table by
// transport, a verdict computed from the data naming the fastest to detect
// and to recover and any loss, and the fault's timeline when writePlots drew
// it.
func (m *errWriter) recovery(r *results.Report, plots []string, used map[string]bool) {
	if len(r.Faults) == 0 {
		return
	}
	m.printf("## Recovery\n\n")
	m.printf("Each fault scenario ran every transport's clients through a Toxiproxy proxy, in the load generator's process on loopback, to a fresh `pushbench serve --data` server process: a restarted server resumes its history and schedule from its write-ahead log, as a production server would, and events due while it was down are published on restart with their original times, so their latency includes the outage. ")
	m.printf("Times are over the clients that noticed a break: *detect* from the fault to the client noticing (an error, a reset, the end of the stream, or its read timeout); *reconnect* from noticing to the connection that delivered; *catch-up* from that connection to having every event published before it (which includes waiting for the next event). *Replayed* is events resent from the client's cursor after reconnecting, *attempts* the connections (polling: requests) from noticing to reconnecting, *failed* those that did not deliver (refused dials, failed handshakes, connections that died silent). *Lost* and *duplicated* are exact, from every client's account of every event.\n\n")
	for _, name := range faultScenarios(r) {
		groups := faultGroups(r.Faults, name)
		info := r.Scenario(name)
		first := groups[0].runs[0]
		m.printf("### Scenario: %s\n\n", scenarioTitle(name))
		if d := strings.TrimSuffix(info.Description, "."); d != "" {
			m.printf("%s.\n\n", strings.ToUpper(d[:1])+d[1:])
		}
		c := first.Settings
		m.printf("%s clients per run streamed %s events/s of %d-byte payloads for %s, met the fault, had to catch up, then streamed %s more.\n\n",
			formatCount(uint64(max(first.Clients, 0))), FormatSI(first.Rate), first.Payload, FormatDuration(c.Before), FormatDuration(c.After))
		m.policies(r.Faults, name)
		for _, g := range groups {
			m.faultGroup(g, plots, used)
		}
	}
}

// policies states the clients' reconnection policies of scenario's runs.
func (m *errWriter) policies(all []results.FaultRun, scenario string) {
	var c results.FaultSettings
	var full, none, sseFull, sseNone bool // backoff jitter; SSE's retry jitter
	for _, r := range all {
		if r.Scenario == scenario {
			c = r.Settings
			full = full || r.Jitter != contract.NoJitter
			none = none || r.Jitter == contract.NoJitter
			sseFull = sseFull || r.Settings.RetryJitter
			sseNone = sseNone || !r.Settings.RetryJitter
		}
	}
	d := FormatDuration
	policy := func(full, none bool, with, without string) string {
		switch {
		case full && none:
			return with + " (jitter) or " + without + " (no jitter)"
		case none:
			return without
		}
		return with
	}
	m.printf("**Client policies.**\n\n")
	m.printf("- SSE: reconnects after %s until the server sends `retry:`, then after what it sent: %s; no client-side jitter, as EventSource has none. Resumes with `Last-Event-ID`.\n",
		d(c.SSERetry), policy(sseFull, sseNone, fmt.Sprintf("each stream its own retry, uniform in [0, %s] (`serve --retry-jitter`)", d(2*c.Retry)), "every stream "+d(c.Retry)))
	m.printf("- WebSocket and TCP: exponential backoff from %s to %s, %s; they resume after their last event (the cursor in the URL or the request).\n",
		d(c.BackoffMin), d(c.BackoffMax), policy(full, none, "each pause uniform in [0, bound]", "each pause exactly the bound"))
	m.printf("- Polling: asks for the events after its cursor every %s, and at once again when the answer says more is waiting; its phase is its own, set when it started.\n", d(c.PollInterval))
	m.printf("- Read timeout %s on every client (polling: the request's timeout). Server heartbeats: an SSE comment after %s of silence; WebSocket pings every %s.\n\n",
		d(c.ReadTimeout), d(c.Heartbeat), d(c.Heartbeat))
}

// faultGroup writes one fault's table, verdict, notes and timeline, under
// an explicit anchor the report's verdict links to (faultAnchor: two fault
// scenarios may share a heading).
func (m *errWriter) faultGroup(g faultGroup, plots []string, used map[string]bool) {
	m.printf("<a id=\"%s\"></a>\n\n#### %s\n\n", faultAnchor(g.scenario, g.fault), g.fault)
	if desc := describeFault(g.runs[0]); desc != "" {
		m.printf("%s clients per run; %s.\n\n", formatCount(uint64(max(g.runs[0].Clients, 0))), desc)
	}
	if slices.ContainsFunc(g.runs, measuredRecovery) {
		m.recoveryTable(g)
	} else {
		m.latencyTable(g)
	}
	m.printf("\n%s\n\n", g.summary())
	var notes []string
	for _, r := range g.runs {
		if r.Error != "" {
			notes = append(notes, rowName(r, g.jitters())+" did not complete: "+strings.TrimSuffix(r.Error, "."))
		}
		for _, n := range r.Notes {
			notes = append(notes, rowName(r, g.jitters())+": "+strings.TrimSuffix(n, "."))
		}
	}
	for _, n := range notes {
		m.printf("- %s.\n", n)
	}
	if len(notes) > 0 {
		m.printf("\n")
	}
	png := g.plotStem() + ".png"
	if slices.Contains(plots, png) {
		used[png] = true
		m.printf("[![%s: connected clients and deliveries/s around the fault](%s)](%s)\n\n", g.fault, png, g.plotStem()+".svg")
	}
}

// recoveryTable writes one row per run of a fault that broke connections;
// a storm adds the server's peak accept rate and CPU.
func (m *errWriter) recoveryTable(g faultGroup) {
	storm := g.fault == "storm"
	ms := func(v int64) string { return FormatNS(float64(v)) }
	n := formatCount
	m.printf("| transport | recovered | detect p50 | p99 | max | reconnect p50 | p99 | max | catch-up p50 | p99 | max | replayed | lost | duplicated | attempts | failed |")
	sep := "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	if storm {
		m.printf(" peak accepts/s | peak server CPU |")
		sep += "--:|--:|"
	}
	m.printf("\n%s\n", sep)
	for _, r := range g.runs {
		rc := r.Recovery
		name := rowName(r, g.jitters())
		if r.Error != "" {
			m.printf("| %s | did not complete | | | | | | | | | | | | | | |", name)
			if storm {
				m.printf(" | |")
			}
			m.printf("\n")
			continue
		}
		m.printf("| %s | %s of %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", name,
			n(uint64(rc.CaughtUp)), n(uint64(rc.Broken)), ms(rc.Detect.P50), ms(rc.Detect.P99), ms(rc.Detect.Max),
			ms(rc.Reconnect.P50), ms(rc.Reconnect.P99), ms(rc.Reconnect.Max),
			ms(rc.CatchUp.P50), ms(rc.CatchUp.P99), ms(rc.CatchUp.Max),
			n(rc.Replayed), lossCell(r.Delivery.Lost), lossCell(r.Delivery.Duplicates), n(rc.Attempts), n(rc.FailedAttempts))
		if storm {
			s := r.Storm()
			acc := "–"
			if s.PeakAcceptsPerSec > 0 {
				acc = FormatSI(s.PeakAcceptsPerSec)
			}
			m.printf(" %s | %s |", acc, formatPercent(s.PeakCPU))
		}
		m.printf("\n")
	}
	if storm {
		m.printf("\nPeaks are over %s windows of the server's samples from the last one before the fault on; CPU in shares of one core; – : the server's /stats did not answer over any whole window.\n", FormatDuration(results.StormWindow))
	}
}

// latencyTable writes one row per run of a fault that broke no connection:
// what it cost is delivery latency.
func (m *errWriter) latencyTable(g faultGroup) {
	ms := func(v int64) string { return FormatNS(float64(v)) }
	m.printf("| transport | breaks | latency p50 | p99 | max | delivered | lost | duplicated |\n")
	m.printf("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range g.runs {
		name := rowName(r, g.jitters())
		if r.Error != "" {
			m.printf("| %s | did not complete | | | | | | |\n", name)
			continue
		}
		m.printf("| %s | %d | %s | %s | %s | %s of %s | %s | %s |\n", name, r.Recovery.Broken,
			ms(r.LatencyNS.P50), ms(r.LatencyNS.P99), ms(r.LatencyNS.Max),
			formatCount(r.Delivery.Delivered), formatCount(r.Delivery.Expected),
			lossCell(r.Delivery.Lost), lossCell(r.Delivery.Duplicates))
	}
	m.printf("\nLatency is from each event's scheduled time to its arrival, over the whole run, the fault included.\n")
}

// lossCell renders a count that should be zero, bold when it is not.
func lossCell(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "**" + formatCount(v) + "**"
}

// summary is the fault's verdict, from its data: which run detected the
// break first and which recovered first (detect + reconnect + catch-up
// p99s), with how many times as long the others took, or for a fault that
// broke nothing the lowest p99 latency; then any loss, duplication or
// client that did not recover.
func (g faultGroup) summary() string {
	var ok []results.FaultRun
	for _, r := range g.runs {
		if r.Error == "" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return "No run completed."
	}
	j := g.jitters()
	var s string
	ns := func(v float64) string { return FormatNS(v) }
	if slices.ContainsFunc(ok, measuredRecovery) {
		var broke []results.FaultRun
		for _, r := range ok {
			if measuredRecovery(r) {
				broke = append(broke, r)
			}
		}
		s = capitalize(ranking(broke, j, "detected the break first", "p99", func(r results.FaultRun) float64 { return float64(r.Recovery.Detect.P99) }, ns)+"; "+
			ranking(broke, j, "recovered first", "detect + reconnect + catch-up p99s:", func(r results.FaultRun) float64 { return float64(r.RecoveryNS()) }, ns)) + "."
	} else {
		s = "No client noticed a break; " + ranking(ok, j, "kept the lowest latency", "p99", func(r results.FaultRun) float64 { return float64(r.LatencyNS.P99) }, ns) + "."
	}
	var bad []string
	for _, r := range ok {
		var what []string
		if d := r.Delivery; d.Lost > 0 {
			what = append(what, "lost "+plural(d.Lost, "event"))
		}
		if d := r.Delivery; d.Duplicates > 0 {
			what = append(what, "duplicated "+plural(d.Duplicates, "event"))
		}
		if d := r.Delivery; d.Reordered > 0 {
			what = append(what, "reordered "+plural(d.Reordered, "event"))
		}
		if rc := r.Recovery; rc.CaughtUp < rc.Broken {
			what = append(what, fmt.Sprintf("had %d of %d broken clients never catch up", rc.Broken-rc.CaughtUp, rc.Broken))
		}
		if len(what) > 0 {
			bad = append(bad, rowName(r, j)+" "+strings.Join(what, " and "))
		}
	}
	if len(bad) == 0 {
		return s + " Every client of every run got every event exactly once and in order."
	}
	return s + " **" + capitalize(strings.Join(bad, "; ")) + ".**"
}

// ranking names the run with the lowest value and how many times as long
// the next and the slowest took: "TCP floor detected the break first (p99
// 2.16ms), SSE took 1.12× as long and polling 463× as long".
func ranking(runs []results.FaultRun, jitters bool, what, label string, value func(results.FaultRun) float64, format func(float64) string) string {
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b results.FaultRun) int { return cmp.Compare(value(a), value(b)) })
	best := sorted[0]
	s := fmt.Sprintf("%s %s (%s %s)", rowName(best, jitters), what, label, format(value(best)))
	if len(sorted) > 1 {
		next := sorted[1]
		s += fmt.Sprintf(", %s took %s", rowName(next, jitters), asLong(value(next), value(best)))
	}
	if len(sorted) > 2 {
		last := sorted[len(sorted)-1]
		s += fmt.Sprintf(" and %s %s", rowName(last, jitters), asLong(value(last), value(best)))
	}
	return s
}

// asLong is "1.34× as long", or "about as long (1×)" when the ratio rounds
// to one.
func asLong(v, best float64) string {
	r := FormatRatio(v, best)
	if r == "1×" {
		return "about as long (1×)"
	}
	return r + " as long"
}

func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return formatCount(n) + " " + what + "s"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// faultCorrectness is the correctness statement's line for the fault runs:
// every client of every completed run got every event exactly once and in
// order, or which runs did not.
func faultCorrectness(runs []results.FaultRun) []string {
	if len(runs) == 0 {
		return nil
	}
	var t results.Delivery
	var bad []string
	done := 0
	for _, r := range runs {
		if r.Error != "" {
			continue
		}
		done++
		d := r.Delivery
		t.Expected += d.Expected
		t.Delivered += d.Delivered
		if !d.Exact() {
			bad = append(bad, fmt.Sprintf("%s %s %s: %s lost, %s duplicated, %s reordered", r.Scenario, r.Fault, rowName(r, r.Jitter == contract.NoJitter),
				formatCount(d.Lost), formatCount(d.Duplicates), formatCount(d.Reordered)))
		}
	}
	out := []string{}
	if len(bad) == 0 {
		out = append(out, fmt.Sprintf("Under faults, every client of all %d completed fault runs got every event exactly once and in order: %s of %s expected deliveries.",
			done, formatCount(t.Delivered), formatCount(t.Expected)))
	} else {
		out = append(out, fmt.Sprintf("Under faults, %d of %d completed runs broke the guarantee:", len(bad), done))
		out = append(out, bad...)
	}
	if n := len(runs) - done; n > 0 {
		out = append(out, fmt.Sprintf("%d fault runs did not complete (see Recovery).", n))
	}
	return out
}

// transportNames are the transports as the Recovery section names them.
var transportNames = map[contract.Transport]string{
	"poll":         "polling",
	"sse":          "SSE",
	"ws":           "WebSocket",
	contract.Floor: "TCP floor",
}

func transportName(t contract.Transport) string {
	if n, ok := transportNames[t]; ok {
		return n
	}
	return string(t)
}

// measuredRecovery says whether a run measured a recovery: it completed
// and some client noticed a break.
func measuredRecovery(r results.FaultRun) bool { return r.Error == "" && r.Recovery.Broken > 0 }

// faultLength is how long the fault itself lasted after it began: the
// server or network down, the partition or degradation; zero for a fault
// that is over when it begins.
func faultLength(r results.FaultRun) time.Duration {
	switch r.Fault {
	case "crash", "graceful", "slowclose", "reset":
		return r.Settings.Downtime
	case "partition", "degrade":
		return r.Settings.Length
	}
	return 0
}

// describeFault says what the run's fault did, with its settings.
func describeFault(r results.FaultRun) string {
	c, d := r.Settings, FormatDuration
	switch r.Fault {
	case "crash":
		return fmt.Sprintf("the server killed (SIGKILL) and restarted %s later on the same address and data", d(c.Downtime))
	case "graceful":
		return fmt.Sprintf("the server stopped (SIGTERM, graceful shutdown) and restarted %s later", d(c.Downtime))
	case "slowclose":
		return fmt.Sprintf("a graceful restart (%s down) while the network takes %s to pass on the server's close (Toxiproxy slow_close)", d(c.Downtime), d(c.SlowClose))
	case "reset":
		return fmt.Sprintf("every connection reset (RST) by the network, and new ones refused for %s, the server staying up", d(c.Downtime))
	case "partition":
		return fmt.Sprintf("no byte passing either way for %s and nothing closed (Toxiproxy timeout 0); healing closes the connections that went through it", d(c.Length))
	case "degrade":
		bw := "unlimited bandwidth"
		if c.BandwidthKBs > 0 {
			bw = fmt.Sprintf("%d KB/s per connection", c.BandwidthKBs)
		}
		return fmt.Sprintf("%s ± %s added latency and %s from the server for %s (Toxiproxy latency and bandwidth)", d(c.Latency), d(c.LatencyJitter), bw, d(c.Length))
	case "storm":
		return fmt.Sprintf("all %s connections reset at once and let back at once: a reconnection storm", formatCount(uint64(max(r.Clients, 0))))
	}
	return ""
}
