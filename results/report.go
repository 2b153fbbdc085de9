// Package results is the schema of results.json: what a benchmark session
// measured, as plain values, how the shards of one run merge, and how a file
// of an earlier schema is read. It is a leaf with no rendering in it because
// both ends of a measurement import it: the load generator fills these types
// as it runs and must not link a table or plot library to do so, and package
// report derives everything a reader sees from them, so a report re-rendered
// later, or elsewhere, from results.json alone says the same.
package results

import (
	"errors"

	"github.com/pushbench/pushbench/contract"
)

// FileName is the name of a report's data file inside its directory.
const FileName = "results.json"

// Sentinel errors.
var (
	// ErrNoRuns is returned by Load for a results.json that holds no run, no
	// capacity measurement, no fault run and no load run: there is nothing
	// to report.
	ErrNoRuns = errors.New("no runs in report")
)

// Report is one benchmark session: the machine and settings that produced
// every figure, and the figures. It is results.json, and everything a report
// shows is derived from it, so a report re-rendered later, or elsewhere,
// says the same.
type Report struct {
	// Schema is the version of this layout (SchemaVersion); files written
	// before it was recorded are version 1 and are read as such.
	Schema int `json:"schema,omitempty"`
	Env    Env `json:"env"`
	// Matrix names the scenario matrix that was run ("default", "quick").
	Matrix   string   `json:"matrix,omitempty"`
	Settings Settings `json:"settings"`
	// Scenarios describes the scenarios the runs belong to, in run order.
	// Optional: without it, sections are titled by name only and no scenario
	// is treated as a saturation or idle scenario.
	Scenarios []ScenarioInfo `json:"scenarios,omitempty"`
	// Runs holds every measured run, repetitions included, in the order
	// they ran.
	Runs []Run `json:"runs"`
	// Capacity holds the vegeta attacks on the polling server, if any.
	Capacity []Capacity `json:"capacity,omitempty"`
	// Faults holds the fault scenarios' runs, one per fault, transport and
	// jitter policy, in the order they ran: the report's Recovery section.
	Faults []FaultRun `json:"faults,omitempty"`
	// Loads holds `pushbench load` runs against endpoints without the
	// contract, in the order they ran: the report's Load section.
	Loads []LoadRun `json:"loads,omitempty"`
	// Notes are free-form remarks that belong with the figures, such as a
	// run that failed and why. They are printed as given.
	Notes []string `json:"notes,omitempty"`
}

// ScenarioInfo is what the report needs to know of a scenario beyond the
// name its runs carry.
type ScenarioInfo struct {
	Name string `json:"name"`
	// Kind is what the scenario measures (contract's kinds: "fan-out",
	// "saturation", "idle", ...).
	Kind        contract.Kind `json:"kind,omitempty"`
	Description string        `json:"description,omitempty"`
	// P99BoundS is a saturation scenario's p99 bound in seconds: the
	// highest rate whose p99 stayed within it, with no loss, "held".
	P99BoundS float64 `json:"p99_bound_s,omitempty"`
}

// Settings are the knobs that shaped every run of a session. Every field is
// optional; a zero field was not recorded and is not shown. Per-run values
// (clients, rate, payload, polling interval, duration) are on each Run.
type Settings struct {
	// WarmupS is publishing time before measuring, in seconds; events sent
	// during it are checked for delivery but left out of latency.
	WarmupS float64 `json:"warmup_s,omitempty"`
	// DurationS is the default measured publishing time, in seconds.
	DurationS float64 `json:"duration_s,omitempty"`
	// Repetitions is the default number of runs of each configuration.
	Repetitions int `json:"repetitions,omitempty"`
	// ServerCPUs and LoadgenCPUs are the CPU lists each process was pinned
	// to ("0", "1-3"); empty means not pinned.
	ServerCPUs  string `json:"server_cpus,omitempty"`
	LoadgenCPUs string `json:"loadgen_cpus,omitempty"`
	// HeartbeatS is the server's SSE/WebSocket heartbeat interval, seconds.
	HeartbeatS float64 `json:"heartbeat_s,omitempty"`
	// MaxLag is how many events a subscriber may lag before the server
	// disconnects it; History how many events the hub keeps for resumption.
	MaxLag  int `json:"max_lag,omitempty"`
	History int `json:"history,omitempty"`
	// SSERetry, WSBackoff and PollInterval describe the clients' policies:
	// SSE reconnection delay, WebSocket reconnection backoff, and the
	// default polling interval, as human-readable text ("1s", "100ms-5s
	// exponential").
	SSERetry     string `json:"sse_retry,omitempty"`
	WSBackoff    string `json:"ws_backoff,omitempty"`
	PollInterval string `json:"poll_interval,omitempty"`
	// Extra holds any other setting worth recording, by name; it is shown
	// sorted by name after the fields above.
	Extra map[string]string `json:"extra,omitempty"`
}

// Scenario returns the description of the named scenario, or one holding
// only the name when the report has none.
func (r *Report) Scenario(name string) ScenarioInfo {
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return ScenarioInfo{Name: name}
}

// ScenarioNames returns the names of the scenarios with runs or capacity
// measurements: those in r.Scenarios first, in that order, then any other in
// order of first appearance.
func (r *Report) ScenarioNames() []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	has := map[string]bool{}
	for _, run := range r.Runs {
		has[run.Scenario] = true
	}
	for _, c := range r.Capacity {
		has[c.Scenario] = true
	}
	for _, s := range r.Scenarios {
		if has[s.Name] {
			add(s.Name)
		}
	}
	for _, run := range r.Runs {
		add(run.Scenario)
	}
	for _, c := range r.Capacity {
		add(c.Scenario)
	}
	return names
}

// RunsOf returns the runs of the named scenario, in run order.
func (r *Report) RunsOf(scenario string) []Run {
	var out []Run
	for _, run := range r.Runs {
		if run.Scenario == scenario {
			out = append(out, run)
		}
	}
	return out
}
