// Package resultstest builds results with round figures for the tests of the
// packages that read them (results, report), so that both test one shape
// of run rather than two copies that drift apart.
package resultstest

import (
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/results"
)

// ScaleRun is a scale step of tr with round figures: clients clients, p99
// at p99ms, lost events lost, the server and the load generator holding
// srvKiB and genKiB per connection.
func ScaleRun(tb testing.TB, tr string, clients int, p99ms int64, lost uint64, srvKiB, genKiB float64) results.Run {
	tb.Helper()
	h := hdrhistogram.New(1, 600e9, 3)
	for i := range 100 {
		v := int64(i+1) * p99ms * 1e6 / 99
		if err := h.RecordValue(v); err != nil {
			tb.Fatal(err)
		}
	}
	enc, err := results.EncodeHistogram(h)
	if err != nil {
		tb.Fatal(err)
	}
	r := results.Run{
		Scenario: "scale", Transport: contract.Transport(tr), Clients: clients, Rate: 0.5, Burst: 1, Payload: 64, DurationS: 6,
		EventsPublished: 4, Delivery: results.Delivery{Expected: 4 * uint64(clients), Delivered: 4*uint64(clients) - lost, Lost: lost},
		LatencyNS: results.LatencyOf(h), Histogram: enc,
		Connections: results.Connections{Attempted: uint64(clients), Established: uint64(clients), PeakConcurrent: int64(clients),
			ConnectP99NS: 2e6, ConnectRate: 1990},
		Server:  results.Process{BytesPerConn: srvKiB * 1024, HeapPerConn: srvKiB * 512},
		Loadgen: results.Process{BytesPerConn: genKiB * 1024, HeapPerConn: genKiB * 256},
		Idle:    &results.Idle{Seconds: 4, BytesIn: uint64(clients) * 40, BytesPerSecPerConn: 10},
	}
	if tr == "poll" {
		r.PollIntervalS = 2
	}
	return r
}

// StormSamples is a storm's server side as its samples show it, every
// 100 ms from 11 s to 16 s: 1000 accepts/s and half a core before the
// fault at 12 s, 4000·d accepts/s and a core and a half for the two
// seconds after it, then as before.
func StormSamples(d float64) []results.ServerSample {
	var out []results.ServerSample
	for at := int64(11000); at <= 16000; at += 100 {
		s := results.ServerSample{At: at, Up: true}
		if n := len(out); n > 0 {
			prev := out[n-1]
			acc, cpu := 100.0, 0.05
			if at > 12000 && at <= 14000 {
				acc, cpu = 400*d, 0.15
			}
			s.Accepted, s.CPUSeconds = prev.Accepted+uint64(acc), prev.CPUSeconds+cpu
		}
		out = append(out, s)
	}
	return out
}
