package report

import (
	"fmt"
	"io"

	"github.com/pushbench/pushbench/results"
)

// newClockReport says which clock latency was measured against, as every
// report must: on one host the server's stamps and the clients' arrivals
// read one kernel clock; across hosts they do not, and the report shows each
// load generator's estimated offset from the server's clock with its error
// bound instead of silently mixing the two.
func newClockReport(r *results.Report, s style) Reporter {
	return func(w io.Writer) error {
		m := &errWriter{w: w}
		t := table{cols: []column{left("run"), right("shard"), left("host"), right("clients"), left("started the schedule"),
			right("clock offset (server − generator)"), right("± bound")}}
		add := func(run *results.Run, sh *results.Shard, c *results.Clock) {
			shard, host, clients, starter := "–", "", formatCount(uint64(run.Clients)), ""
			if sh != nil {
				shard = fmt.Sprintf("%d/%d", sh.Index, sh.Count)
				host, clients = sh.Host, formatCount(uint64(sh.Clients))
				if sh.Starter {
					starter = "yes"
				}
			}
			off, bound := "not estimated", ""
			if c != nil {
				off, bound = FormatNS(float64(c.OffsetNS)), FormatNS(float64(c.ErrorNS))
			}
			name := configOf(run).Label() + ", " + configOf(run).Load()
			if run.Scenario != "" {
				name = run.Scenario + ", " + name
			}
			t.add(name, shard, host, clients, starter, off, bound)
		}
		method := ""
		for i := range r.Runs {
			run := &r.Runs[i]
			switch {
			case len(run.Shards) > 0:
				for j := range run.Shards {
					sh := &run.Shards[j]
					add(run, sh, sh.Clock)
					if sh.Clock != nil {
						method = sh.Clock.Method
					}
				}
			case run.Shard != nil || run.Clock != nil:
				add(run, run.Shard, run.Clock)
				if run.Clock != nil {
					method = run.Clock.Method
				}
			}
		}
		if len(t.rows) == 0 {
			m.printf("Latency is measured against one clock: the server stamps each event and the load generator timestamps its arrival on the same host, so both read the same kernel clock.\n")
			return m.err
		}
		m.printf("Latency may mix two clocks here: the server stamps each event on its host and each load generator times the arrival on its own. "+
			"pushbench does not correct for it. Instead each generator estimated the server's clock offset, shown below with its error bound: "+
			"true latency is the measured figure plus the offset, within the bound either way. Method: %s.\n\n", method)
		m.table(func(w io.Writer) error { return t.render(w, s) })
		return m.err
	}
}
