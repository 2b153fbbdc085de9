package pushbench_test

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/internal/testbin"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/servers"
)

// The schedule every sub-benchmark offers.
const (
	benchRate    = 100.0 // events/s
	benchPayload = 64    // bytes of data per event
	benchPoll    = 100 * time.Millisecond
	// benchWarmup is published and checked but left out of the latency and
	// allocation figures: connections settle, buffers grow, pollers align.
	benchWarmup = 200 * time.Millisecond
	// minMeasured keeps a -benchtime 1x run short but real: 50 scheduled
	// instants after the warm-up.
	minMeasured = 500 * time.Millisecond
)

// BenchmarkDelivery measures every transport end to end: a real pushbench
// server in its own process, a fleet of real clients in this one, one event
// stream published at a fixed rate, every delivery checked.
//
// Run and compare:
//
//	go test -run '^$' -bench Delivery -benchtime 50000x -count 6 . | tee new.txt
//	benchstat old.txt new.txt                          # a change, per transport × impl × clients
//	benchstat -col /transport -row /clients new.txt    # the transports side by side
//	benchstat -col /impl -row /transport,/clients new.txt  # the libraries of each transport
//
// An op is one delivery: one event arriving at one client. b.N is the number
// of deliveries asked for, so with -benchtime Nx a run publishes for
// N / (rate × clients) seconds (50000x: 5 s at 100 clients, 0.5 s at 1000), but
// never less than minMeasured, which is all `make test` gets with -benchtime 1x.
// A duration -benchtime publishes for that long in one run (the iterations
// column then reads 1). The per-op figures are therefore always divided by the
// deliveries actually made, not by b.N:
//
//	ns/op                CPU time per delivery, server and load generator
//	                     together (user+sys): what a delivery costs this box
//	srv-cpu-ns/delivery  the server process's share of it
//	B/op, allocs/op      the load generator's heap allocations per delivery,
//	                     while publishing after the warm-up (connecting
//	                     excluded); the testing package prints whole numbers
//	p50-ns, p99-ns       delivery latency, scheduled publish time to arrival,
//	                     after the warm-up
//	deliveries/s         over the whole publishing window and the drain
//	wire-B/event         bytes on the clients' sockets (both ways, headers,
//	                     framing and polls included) per event a client received
//	lost                 always 0: a lost, duplicated or reordered event, a gap,
//	                     a cut-off or a reconnect fails the benchmark instead,
//	                     since figures of a broken stream mean nothing
//
// The load is fixed, not "as fast as possible": the point is what each
// transport costs and how late it delivers at the same offered load, as in
// `pushbench run`. For where each one breaks, see the saturation scenario.
func BenchmarkDelivery(b *testing.B) {
	// BenchmarkDelivery itself runs once per test process: -count and -cpu
	// repeat only the sub-benchmarks, so the binary is built once.
	bin := testbin.Pushbench(b)
	pin := runtime.NumCPU() >= 2
	if pin {
		pinLoadgen(b)
	}
	if limit, err := proc.RaiseFileLimit(); err != nil {
		b.Fatalf("open-file limit: %v", err)
	} else if limit < 1000+64 {
		b.Skipf("open-file limit %d is too low for 1000 clients", limit)
	}
	for _, tr := range []contract.Transport{contract.Poll, contract.SSE, contract.WS, contract.TCP} {
		name := string(tr)
		if tr == contract.Poll {
			name = fmt.Sprintf("%s-%v", tr, benchPoll)
		}
		for _, impl := range benchImpls(tr) {
			for _, clients := range []int{100, 1000} {
				b.Run(fmt.Sprintf("transport=%s/impl=%s/clients=%d", name, impl, clients), func(b *testing.B) {
					benchDelivery(b, bin, pin, tr, impl, clients)
				})
			}
		}
	}
}

// benchImpls names the server implementations of transport the benchmark
// runs: every Go one (the TCP floor has only pushbench's own).
func benchImpls(transport contract.Transport) []string {
	if transport == contract.TCP {
		return []string{"std"}
	}
	var out []string
	for _, i := range servers.Impls(transport) {
		if len(i.Command) == 0 {
			out = append(out, i.Name)
		}
	}
	return out
}

func benchDelivery(b *testing.B, bin string, pin bool, transport contract.Transport, impl string, clients int) {
	count, d := benchtime()
	if count > 1 && b.N == 1 {
		// The framework's probe run, before it calls again with b.N = count.
		// A fixed-rate run cannot be made cheap, so it is not made at all.
		return
	}
	measured := max(minMeasured, d, time.Duration(float64(b.N)/(benchRate*float64(clients))*float64(time.Second)))

	spec := bench.ServerSpec{Command: []string{bin, "serve"}, TCPAddr: "127.0.0.1:0"}
	if transport != contract.TCP {
		spec.Impl = map[contract.Transport]string{transport: impl}
	}
	if pin {
		spec.CPUs = "0"
	}
	ctx := b.Context()
	srv, err := bench.StartServer(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := srv.Stop(10 * time.Second); err != nil {
			b.Errorf("stopping server: %v", err)
		}
	})

	var allocs allocWindow
	b.ReportAllocs()
	b.ResetTimer()
	run, err := bench.Measure(ctx, srv.Target(transport), bench.Plan{
		Load: bench.Load{
			Transport: transport, Clients: clients,
			Schedule: contract.Schedule{Rate: benchRate, Payload: benchPayload},
			Warmup:   benchWarmup, Duration: measured,
			Client: loadgen.Options{PollInterval: benchPoll},
		},
		Drain: 10 * time.Second,
		Progress: func(elapsed time.Duration, delivered uint64) {
			if elapsed >= benchWarmup {
				allocs.sample(delivered)
			}
		},
	})
	// The timer ran over the whole run, so a duration -benchtime is met in
	// one run; every figure below is per delivery made, overriding the
	// framework's per-b.N ones.
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if bad := run.Lost + run.Duplicates + run.Reordered + run.Gaps + run.GapMissed + run.Malformed; bad > 0 || run.Delivered != run.Expected {
		b.Fatalf("broken stream: %d of %d deliveries made; lost %d, duplicated %d, reordered %d, gaps %d (%d events), malformed %d",
			run.Delivered, run.Expected, run.Lost, run.Duplicates, run.Reordered, run.Gaps, run.GapMissed, run.Malformed)
	}
	if run.SlowDisconnects > 0 || run.Connections.Reconnects > 0 {
		b.Fatalf("%d clients cut off as slow, %d reconnects: the benchmark measured reconnects",
			run.SlowDisconnects, run.Connections.Reconnects)
	}
	if run.Delivered == 0 || run.LatencyNS.Count == 0 {
		b.Fatalf("nothing measured: %d events published, %d delivered", run.EventsPublished, run.Delivered)
	}

	perDelivery := 1 / float64(run.Delivered)
	b.ReportMetric((run.Server.CPUSeconds+run.Loadgen.CPUSeconds)*1e9*perDelivery, "ns/op")
	b.ReportMetric(run.Server.CPUSeconds*1e9*perDelivery, "srv-cpu-ns/delivery")
	objects, bytes, ok := allocs.perDelivery()
	if !ok {
		b.Fatal("publishing window too short to sample allocations")
	}
	b.ReportMetric(objects, "allocs/op")
	b.ReportMetric(bytes, "B/op")
	b.ReportMetric(float64(run.LatencyNS.P50), "p50-ns")
	b.ReportMetric(float64(run.LatencyNS.P99), "p99-ns")
	b.ReportMetric(run.DeliveriesPerSec, "deliveries/s")
	b.ReportMetric(run.Wire.BytesPerEvent, "wire-B/event")
	b.ReportMetric(float64(run.Lost), "lost")
}

// allocWindow samples this process's cumulative heap allocations against
// deliveries, from its first sample to its last. Measure calls Progress in
// the benchmark's goroutine, so it needs no lock.
type allocWindow struct {
	first, last allocSample
	n           int
}

type allocSample struct{ delivered, objects, bytes uint64 }

// allocMetrics add up to runtime.MemStats' Mallocs and TotalAlloc, which is
// what the testing package reports, without stopping the world mid-run.
var allocMetrics = []string{"/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects", "/gc/heap/allocs:bytes"}

func (w *allocWindow) sample(delivered uint64) {
	m := make([]metrics.Sample, len(allocMetrics))
	for i, name := range allocMetrics {
		m[i].Name = name
	}
	metrics.Read(m)
	s := allocSample{delivered: delivered}
	for _, v := range m {
		if v.Value.Kind() != metrics.KindUint64 {
			continue // unknown to this runtime: the figure will read low
		}
		if strings.HasSuffix(v.Name, ":bytes") {
			s.bytes += v.Value.Uint64()
		} else {
			s.objects += v.Value.Uint64()
		}
	}
	if w.n == 0 {
		w.first = s
	}
	w.last = s
	w.n++
}

// perDelivery returns allocations and bytes allocated per delivery in the
// window, false if it holds no delivery.
func (w *allocWindow) perDelivery() (objects, bytes float64, ok bool) {
	d := w.last.delivered - w.first.delivered
	if w.n < 2 || d == 0 {
		return 0, 0, false
	}
	return float64(w.last.objects-w.first.objects) / float64(d), float64(w.last.bytes-w.first.bytes) / float64(d), true
}

// benchtime reads -test.benchtime: a count n for "Nx", else a duration d.
func benchtime() (n int, d time.Duration) {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return 0, time.Second // the testing package's default
	}
	s := f.Value.String()
	if c, ok := strings.CutSuffix(s, "x"); ok {
		if n, err := strconv.Atoi(c); err == nil {
			return n, 0
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return 0, d
	}
	return 0, time.Second // unreachable: the flag parsed as one or the other
}

// pinLoadgen pins this process, the load generator, to every CPU but 0, where
// the server is pinned, as `pushbench run` does; the server then has a core
// to itself. The previous affinity (every CPU) is restored when b ends.
func pinLoadgen(b *testing.B) {
	b.Helper()
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	if err := proc.Pin(all[1:]...); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := proc.Pin(all...); err != nil {
			b.Errorf("unpin: %v", err)
		}
	})
}
