package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// The verdict's rules: one function per workload, each naming the figure it
// decides by and how that figure is judged, then one per condition. They
// share decide (verdict.go); docs/verdict.md states each in prose.

// fanOutLatency is the rule for many clients at a low rate (a fan-out
// scenario): at its point with the most clients, the lowest p99 latency,
// judged over the repetitions.
func fanOutLatency(gs []group, nz noises) []finding {
	pt := lastPoint(gs)
	f := pointFinding("Many clients at a low rate", pt, nz.latency(), func(r *results.Run) float64 { return float64(r.LatencyNS.P99) })
	return found(f)
}

// fanOutCost is the rule for what the same fan-out costs: at the point with
// the most clients, the least server CPU per 1,000 deliveries, judged over
// the repetitions, with the choice's p99 beside it (the cheapest is often
// the slowest).
func fanOutCost(gs []group, nz noises) []finding {
	pt := lastPoint(gs)
	f := pointFinding("Many clients at a low rate, cost", pt, nz.cost(), func(r *results.Run) float64 { return r.Server.CPUPer1kDeliveries })
	if f != nil {
		f.context = true
	}
	return found(f)
}

// payloadLatency is the rule for large payloads: at the point with the
// largest payload, the lowest p99 latency, judged over the repetitions.
func payloadLatency(gs []group, nz noises) []finding {
	pts := points(gs)
	pt := pts[0]
	for _, p := range pts[1:] {
		if p[0].Config.Payload > pt[0].Config.Payload ||
			p[0].Config.Payload == pt[0].Config.Payload && p[0].Config.Clients > pt[0].Config.Clients {
			pt = p
		}
	}
	return found(pointFinding("Large payloads", pt, nz.latency(), func(r *results.Run) float64 { return float64(r.LatencyNS.P99) }))
}

// idleMemory is the rule for mostly idle connections: at the idle
// scenario's point with the most clients, the least server memory per
// connection, a figure measured once: judged against the report's noise
// unless repetitions let the U test decide.
func idleMemory(gs []group, nz noises) []finding {
	f := pointFinding("Mostly idle connections", lastPoint(gs), nz.memory(), func(r *results.Run) float64 { return r.Server.BytesPerConn })
	if f != nil {
		f.context = true
	}
	return found(f)
}

// scaleMemory is the rule for the most concurrent connections (a scale
// scenario): at its largest client count, among the choices that held it
// (all connected, nothing lost, p99 within the bound), the least server
// memory per connection, judged against the report's noise.
func scaleMemory(info results.ScenarioInfo, gs []group, nz noises) []finding {
	pt := lastPoint(gs)
	var held []group
	var excluded []string
	for _, g := range pt {
		if g.Config.Transport == contract.Floor {
			continue
		}
		if ok, why := scaleVerdict(info, &g.Median); !ok {
			excluded = append(excluded, g.Config.Label()+" did not hold them: "+why)
			continue
		}
		held = append(held, g)
	}
	f := pointFinding("The most concurrent connections", held, nz.memory(), func(r *results.Run) float64 { return r.Server.BytesPerConn })
	if f == nil {
		if len(excluded) == 0 {
			return nil
		}
		c := pt[0].Config
		f = &finding{workload: "The most concurrent connections", where: c.Scenario + ", " + c.Load(), anchor: scenarioAnchor(c.Scenario),
			fig: nz.memory(), excluded: excluded}
		return []finding{*f}
	}
	f.where = pt[0].Config.Scenario + ", " + pt[0].Config.Load()
	f.excluded = append(excluded, f.excluded...)
	f.context = true
	return []finding{*f}
}

// saturationLadder is the rule for few clients at a high rate (a
// saturation scenario): per ladder load, the highest offered rate that held
// (p99 within the scenario's bound, nothing lost). Rates held come from
// single runs, so the runner-up's break is judged instead: it is real when
// it lost events or its p99 passed the bound by more than the report's
// p99 noise; otherwise the two did not measurably differ. A step where the
// load generator, not the server, was the limit is no break of the
// server's: a ladder that stopped there cannot be told apart.
func saturationLadder(info results.ScenarioInfo, gs []group, nz noises, c cpus) []finding {
	bound := info.P99BoundS * 1e9
	tried := 0.0
	for i := range gs {
		tried = max(tried, gs[i].Config.Rate)
	}
	// A ladder is one configuration at every rate it was offered; the
	// floor's is none of the choices.
	type choice struct {
		contender
		*ladder
	}
	var ladders []*choice
	for _, l := range laddersOf(gs, bound, c) {
		if l.config.Transport == contract.Floor {
			continue
		}
		ladders = append(ladders, &choice{
			contender: contender{name: l.config.Label(), transport: l.config.Transport, impl: l.config.Impl,
				value: l.held, values: []float64{l.held}, p99: l.heldP99},
			ladder: l,
		})
	}
	if len(ladders) == 0 {
		return nil
	}
	slices.SortStableFunc(ladders, func(a, b *choice) int { return cmp.Compare(b.held, a.held) })
	cs := make([]*contender, len(ladders))
	byContender := map[*contender]*choice{}
	for i, l := range ladders {
		cs[i] = &l.contender
		byContender[cs[i]] = l
	}

	first := gs[0].Config
	cond := "no loss"
	if bound > 0 {
		cond = "p99 ≤ " + FormatNS(bound) + ", no loss"
	}
	f := finding{
		workload: "Few clients at a high rate",
		where:    fmt.Sprintf("%s, %s clients, %s", first.Scenario, formatCount(uint64(max(first.Clients, 0))), formatBytes(float64(first.Payload))),
		anchor:   scenarioAnchor(first.Scenario),
		fig:      measure{name: "the highest rate held (" + cond + ")", format: formatRate, noise: nz.p99, noiseName: "p99 latency"},
		context:  true,
		best:     cs[0],
	}
	if len(cs) == 1 {
		f.outcome = onlyOne
		return []finding{f}
	}
	f.next = runnerUp(cs)
	best, next := byContender[f.best], byContender[f.next]
	switch {
	case best.held == next.held && best.held == 0:
		f.outcome = noDifference
		f.detail = fmt.Sprintf("neither held even %s", formatRate(next.steps[0].Config.Rate))
	case best.held == next.held && best.held >= tried:
		f.outcome = noDifference
		f.detail = fmt.Sprintf("both held %s, the highest rate tried: the ladder found no limit", formatRate(best.held))
	case best.held == next.held && (best.limited != nil || next.limited != nil):
		f.outcome = cannotTell
		var who []string
		for _, l := range []*choice{best, next} {
			if l.limited != nil {
				who = append(who, fmt.Sprintf("%s at %s (%s)", l.name, formatRate(l.limited.Config.Rate), c.coresNote(&l.limited.Median)))
			}
		}
		f.detail = fmt.Sprintf("both held %s; above it the load generator, not the server, was the limit of %s", formatRate(best.held), joinAnd(who))
	case best.held == next.held:
		f.outcome = noDifference
		f.detail = fmt.Sprintf("both held %s and no more", formatRate(best.held))
	case libraryRule(cs, f.best, f.next) != nil:
		f.outcome, f.impls = libraryMatters, libraryRule(cs, f.best, f.next)
	case next.limited != nil:
		f.outcome = cannotTell
		f.detail = fmt.Sprintf("%s's ladder stopped at %s limited by the load generator, not the server (%s): the server's own limit was not found",
			next.name, formatRate(next.limited.Config.Rate), c.coresNote(&next.limited.Median))
	case next.broke == nil:
		f.outcome = cannotTell
		f.detail = fmt.Sprintf("%s was not offered more than %s", next.name, formatRate(next.held))
	case next.broke.Totals().Lost > 0:
		f.outcome = use
		f.detail = fmt.Sprintf("%s lost %s events at %s: a break, not noise", next.name, formatCount(next.broke.Totals().Lost), formatRate(next.broke.Config.Rate))
	case nz.p99.n == 0:
		f.outcome = cannotTell
		f.detail = fmt.Sprintf("%s broke at %s with p99 %s over the %s bound, and this report repeated no configuration to measure the noise of p99 latency against",
			next.name, formatRate(next.broke.Config.Rate), FormatNS(next.broke.P99.Median), FormatNS(bound))
	default:
		over := next.broke.P99.Median/bound - 1
		rel := "beyond"
		f.outcome = use
		if over <= nz.p99.rel {
			rel, f.outcome = "within", noDifference
		}
		f.detail = fmt.Sprintf("%s broke at %s with p99 %s, %s over the %s bound: %s the run-to-run spread of p99 latency this report shows (%s, the median over %d repeated configurations)",
			next.name, formatRate(next.broke.Config.Rate), FormatNS(next.broke.P99.Median), formatPercent(over), FormatNS(bound), rel, formatPercent(nz.p99.rel), nz.p99.n)
	}
	return []finding{f}
}

// faultRecovery is the rule for a fault (after a crash, a silent network
// failure, ...): the shortest time to recover, detect + reconnect +
// catch-up p99s over clients, among the runs that recovered every client
// with every event exactly once; for a fault that breaks nothing (degrade),
// the lowest p99 latency through it. One run each: judged against the
// report's p99 noise.
func faultRecovery(g faultGroup, nz noises) []finding {
	breaks := slices.ContainsFunc(g.runs, measuredRecovery)
	fig := nz.onceLatency("time to recover (detect + reconnect + catch-up p99s)")
	value := func(r results.FaultRun) float64 { return float64(r.RecoveryNS()) }
	if !breaks {
		fig = nz.onceLatency("p99 latency through it")
		value = func(r results.FaultRun) float64 { return float64(r.LatencyNS.P99) }
	}
	var cs []*contender
	var excluded []string
	j := g.jitters()
	for _, r := range g.runs {
		name := rowName(r, j)
		switch d := r.Delivery; {
		case r.Transport == contract.Floor:
			continue
		case r.Error != "":
			excluded = append(excluded, name+" did not complete")
		case !d.Exact():
			excluded = append(excluded, fmt.Sprintf("%s lost %s, duplicated %s and reordered %s events", name,
				formatCount(d.Lost), formatCount(d.Duplicates), formatCount(d.Reordered)))
		case breaks && !measuredRecovery(r):
			excluded = append(excluded, name+" noticed no break")
		case breaks && r.Recovery.CaughtUp < r.Recovery.Broken:
			excluded = append(excluded, fmt.Sprintf("%s had %d of %d broken clients never catch up", name, r.Recovery.Broken-r.Recovery.CaughtUp, r.Recovery.Broken))
		default:
			v := value(r)
			cs = append(cs, &contender{name: name, transport: r.Transport, impl: r.Impl, values: []float64{v}, value: v})
		}
	}
	if len(cs) == 0 && len(excluded) == 0 {
		return nil
	}
	f := &finding{workload: faultWorkload(g.fault), where: g.scenario + ", " + string(g.fault), anchor: faultAnchor(g.scenario, g.fault),
		fig: fig, excluded: excluded}
	decide(f, cs)
	return []finding{*f}
}

// faultWorkload names the workload a fault stands for.
func faultWorkload(f contract.Fault) string {
	switch f {
	case contract.Crash:
		return "After a server crash"
	case contract.Graceful:
		return "After a graceful restart"
	case contract.SlowClose:
		return "After a restart behind a slow-closing network"
	case contract.Reset:
		return "After every connection is reset"
	case contract.Partition:
		return "After a silent network failure"
	case contract.Degrade:
		return "On a degraded network"
	case contract.Storm:
		return "After a reconnection storm"
	}
	return "Under fault " + string(f)
}

// browserLatency is the rule for browser pages: among the transports that
// delivered every event exactly once in the page, the lowest in-page p99
// latency, from one run: judged against the report's p99 noise.
func browserLatency(b *BrowserFacts, nz noises) []finding {
	if b == nil || len(b.Delivery) == 0 {
		return nil
	}
	var cs []*contender
	var excluded []string
	for _, d := range b.Delivery {
		name := cmp.Or(d.Name, string(d.Transport))
		if !d.OK {
			excluded = append(excluded, name+" did not deliver every event exactly once")
			continue
		}
		cs = append(cs, &contender{name: name, transport: d.Transport, values: []float64{d.P99NS}, value: d.P99NS})
	}
	f := &finding{workload: "Browser pages", where: cmp.Or(b.Browser, "a real browser"), anchor: b.Anchor,
		fig: nz.onceLatency("in-page p99 latency"), excluded: excluded}
	decide(f, cs)
	return []finding{*f}
}

// proxyLatency is the rule for a transport behind a reverse proxy: among
// the transports that delivered every event exactly once through it, the
// lowest p99 latency through it, from one run: judged against the report's
// p99 noise.
func proxyLatency(p *ProxyFacts, nz noises) []finding {
	if p == nil || len(p.Overhead) == 0 {
		return nil
	}
	var cs []*contender
	var excluded []string
	for _, o := range p.Overhead {
		name := string(o.Transport)
		if !o.OK {
			excluded = append(excluded, name+" did not deliver every event exactly once through it")
			continue
		}
		cs = append(cs, &contender{name: name, transport: o.Transport, values: []float64{o.ProxiedP99NS}, value: o.ProxiedP99NS})
	}
	f := &finding{workload: "Behind a reverse proxy", where: "through " + cmp.Or(p.Proxy, "the proxy"), anchor: p.Anchor,
		fig: nz.onceLatency("p99 latency through the proxy"), excluded: excluded}
	decide(f, cs)
	return []finding{*f}
}

// The conditions: facts a reader must know before acting on the
// verdict, each taken from a measured scenario.

// proxyBuffering is the condition for SSE behind a buffering proxy: with
// the proxy's defaults (nginx: HTTP/1.0 upstream, proxy_buffering on) and
// no X-Accel-Buffering header, what arrived; and which fixes delivered
// every event.
func proxyBuffering(p *ProxyFacts) []condition {
	if p == nil {
		return nil
	}
	var pitfall *ProxyBuffering
	var fixes []string
	for i, c := range p.Buffering {
		switch {
		case c.Defaults && !c.AccelHeader && !c.BufferingOff:
			pitfall = &p.Buffering[i]
		case c.OK && c.AccelHeader && !c.BufferingOff:
			fixes = append(fixes, "`X-Accel-Buffering: no` from the server")
		case c.OK && c.BufferingOff && !c.AccelHeader:
			fixes = append(fixes, "`proxy_buffering off`")
		case c.OK && c.HTTP11 && !c.AccelHeader && !c.BufferingOff:
			fixes = append(fixes, "`proxy_http_version 1.1`")
		}
	}
	if pitfall == nil {
		return nil
	}
	proxy := cmp.Or(p.Proxy, "the proxy")
	if pitfall.OK {
		return []condition{{lead: "SSE through " + proxy + " with its defaults delivered every event here",
			body: fmt.Sprintf("%s of %s deliveries, in %d windows of 50 ms for %d events published.",
				formatCount(pitfall.Delivered), formatCount(pitfall.Expected), pitfall.ArrivalWindows, pitfall.Published), anchor: p.Anchor}}
	}
	lead := "SSE behind " + proxy + " needs " + joinOr(fixes)
	if len(fixes) == 0 {
		lead = "SSE behind " + proxy + " with its defaults did not stream"
	}
	body := fmt.Sprintf("With its defaults and none of these, %s of %s deliveries never arrived", formatCount(pitfall.Lost), formatCount(pitfall.Expected))
	if pitfall.Lost == 0 {
		body = fmt.Sprintf("With its defaults and none of these, %s of %s deliveries arrived", formatCount(pitfall.Delivered), formatCount(pitfall.Expected))
	}
	if pitfall.ArrivalWindows > 0 && pitfall.Published > 0 {
		body += fmt.Sprintf(" and the rest came in %d bursts for %d events published", pitfall.ArrivalWindows, pitfall.Published)
	}
	if len(fixes) > 0 {
		body += "; with any one of them every event arrived, as published"
	}
	return []condition{{lead: lead, body: body + ".", anchor: p.Anchor}}
}

// browserLimit is the condition on EventSources per host: how many of those
// a page opened streamed over HTTP/1.1 and over HTTP/2.
func browserLimit(b *BrowserFacts) []condition {
	if b == nil {
		return nil
	}
	var h1, h2 *BrowserLimit
	for i, l := range b.Limit {
		switch {
		case l.Failed:
		case l.Protocol == "http/1.1":
			h1 = &b.Limit[i]
		case l.Protocol == "h2":
			h2 = &b.Limit[i]
		}
	}
	if h1 == nil {
		return nil
	}
	var lead, body string
	if h1.Streaming < h1.Opened {
		lead = fmt.Sprintf("Over HTTP/1.1 a browser page streams at most %d EventSources per host", h1.Streaming)
		body = fmt.Sprintf("Of %d opened, %d streamed over %d connections and the rest stalled", h1.Opened, h1.Streaming, h1.PeakConnections)
	} else {
		lead = fmt.Sprintf("Over HTTP/1.1 all %d EventSources a page opened to one host streamed", h1.Opened)
		body = fmt.Sprintf("They used %d connections", h1.PeakConnections)
	}
	if h2 != nil {
		body += fmt.Sprintf("; over HTTP/2 %d of %d streamed, over %d connection", h2.Streaming, h2.Opened, h2.PeakConnections)
		if h2.PeakConnections != 1 {
			body += "s"
		}
	}
	if h1.Streaming < h1.Opened {
		body += ". More live streams per page (every tab of a site shares the limit) need HTTP/2, one multiplexed stream, or WebSocket"
	}
	return []condition{{lead: lead, body: body + ".", anchor: b.Anchor}}
}

// browserResume is the condition on a browser's EventSource across a
// server crash: whether it resumed by itself, from Last-Event-ID, losing
// nothing.
func browserResume(b *BrowserFacts) []condition {
	if b == nil || b.Resume == nil {
		return nil
	}
	if !b.Resume.OK {
		return []condition{{lead: "A browser's EventSource did not resume cleanly across kill -9", body: "See the reconnection check.", anchor: b.Anchor}}
	}
	return []condition{{lead: "A browser's EventSource resumes by itself across kill -9",
		body: fmt.Sprintf("It reconnected, sent `Last-Event-ID: %s` and lost nothing; it streamed again %s after the server was back.",
			b.Resume.LastEventID, FormatNS(b.Resume.ResumeS*1e9)), anchor: b.Anchor}}
}

// silentFailure is the condition on a silent network failure: a partition
// closes nothing, so only a read timeout notices it; how long each
// transport took (detect p99), beside how fast a crash, which closes
// connections, was noticed.
func silentFailure(r *results.Report) []condition {
	var out []condition
	for _, name := range faultScenarios(r) {
		for _, g := range faultGroups(r.Faults, name) {
			if g.fault != contract.Partition {
				continue
			}
			var parts []string
			var set results.FaultSettings
			for _, run := range g.runs {
				if run.Transport == contract.Floor || !measuredRecovery(run) {
					continue
				}
				set = run.Settings
				parts = append(parts, fmt.Sprintf("%s noticed it after %s", rowName(run, g.jitters()), FormatNS(float64(run.Recovery.Detect.P99))))
			}
			if len(parts) == 0 {
				continue
			}
			body := fmt.Sprintf("With a %s read timeout and a heartbeat or ping every %s, %s (detect p99)",
				FormatDuration(set.ReadTimeout), FormatDuration(set.Heartbeat), joinAnd(parts))
			if crash := crashDetect(r, name); crash != "" {
				body += "; a crash, which closes connections, " + crash
			}
			body += ". Set the read timeout (and a heartbeat well under it) to how long a dead connection may go unnoticed."
			out = append(out, condition{lead: "A silent network failure is noticed only by a read timeout", body: body, anchor: faultAnchor(name, g.fault)})
		}
	}
	return out
}

// crashDetect says how fast the crash of scenario was noticed, from its
// slowest streaming transport's detect p99 and polling's: "was noticed
// within 5.35ms by every streaming transport and within 1s by polling".
func crashDetect(r *results.Report, scenario string) string {
	var stream, poll float64
	for _, run := range r.Faults {
		if run.Scenario != scenario || run.Fault != contract.Crash || run.Transport == contract.Floor || !measuredRecovery(run) {
			continue
		}
		d := float64(run.Recovery.Detect.P99)
		if run.Transport.Requests() {
			poll = max(poll, d)
		} else {
			stream = max(stream, d)
		}
	}
	var parts []string
	if stream > 0 {
		parts = append(parts, "within "+FormatNS(stream)+" by every streaming transport")
	}
	if poll > 0 {
		parts = append(parts, "within "+FormatNS(poll)+" by polling")
	}
	if len(parts) == 0 {
		return ""
	}
	return "was noticed " + strings.Join(parts, " and ")
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(parts []string) string { return join(parts, " and ") }

// joinOr joins "a", "b" and "c" as "a, b or c".
func joinOr(parts []string) string { return join(parts, " or ") }

func join(parts []string, last string) string {
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + last + parts[len(parts)-1]
}
