package results

import (
	"encoding/json"
	"fmt"
	"math"
)

// The parts of schema version 1 that version 2 changed: a fault run's
// delivery account had other names, and its latencies were milliseconds.
type (
	v1Report struct {
		Faults []v1FaultRun `json:"faults"`
	}
	v1FaultRun struct {
		Delivery struct {
			Expected   uint64 `json:"expected"`
			Delivered  uint64 `json:"delivered"`
			Lost       uint64 `json:"lost"`
			Duplicates uint64 `json:"duplicates"`
			Reordered  uint64 `json:"reordered"`
			Gaps       uint64 `json:"gaps"`
			GapMissed  uint64 `json:"gap_missed"`
			Malformed  uint64 `json:"malformed"`
		} `json:"delivery"`
		Latency  v1Quantiles `json:"latency"`
		Recovery struct {
			Detect    v1Quantiles `json:"detect"`
			Reconnect v1Quantiles `json:"reconnect"`
			CatchUp   v1Quantiles `json:"catch_up"`
		} `json:"recovery"`
	}
	v1Quantiles struct {
		N   int64   `json:"n"`
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}
)

// upgradeV1 fills r, decoded from the version 1 file b, with what version 1
// kept under other names.
func upgradeV1(b []byte, r *Report) error {
	var old v1Report
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	if len(old.Faults) != len(r.Faults) {
		return fmt.Errorf("upgrading a version 1 report: %d fault runs read as %d", len(old.Faults), len(r.Faults))
	}
	for i, o := range old.Faults {
		f := &r.Faults[i]
		d := o.Delivery
		f.Delivery = Delivery{Expected: d.Expected, Delivered: d.Delivered, Lost: d.Lost, Duplicates: d.Duplicates,
			Reordered: d.Reordered, Gaps: d.Gaps, GapMissed: d.GapMissed, Malformed: d.Malformed}
		f.LatencyNS = o.Latency.latency()
		f.Recovery.Detect = o.Recovery.Detect.latency()
		f.Recovery.Reconnect = o.Recovery.Reconnect.latency()
		f.Recovery.CatchUp = o.Recovery.CatchUp.latency()
	}
	return nil
}

func (q v1Quantiles) latency() Latency {
	ns := func(ms float64) int64 { return int64(math.Round(ms * 1e6)) }
	return Latency{Count: q.N, P50: ns(q.P50), P99: ns(q.P99), Max: ns(q.Max)}
}
