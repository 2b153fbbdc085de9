package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// CapacityConfig is one vegeta attack on a pushbench server's /poll.
type CapacityConfig struct {
	// Control is the server's; its generator must be stopped and its
	// history must hold at least Batch events.
	Control Control
	// Batch is how many events each answer carries; 0 asks for nothing new
	// (the 204 path every idle poller hits).
	Batch uint64
	// Rate is requests/s, open loop: vegeta sends on schedule whether or not
	// earlier answers have come back, so a slow server cannot slow the load.
	Rate     float64
	Duration time.Duration
}

// Capacity measures the polling server's raw request capacity with vegeta,
// a widely trusted HTTP load tool, so the polling rows of a report rest on
// more than this suite's own client. Latencies go into the suite's HDR
// histogram; success, throughput and status codes come from vegeta.
func Capacity(ctx context.Context, cfg CapacityConfig) (results.Capacity, error) {
	st, err := cfg.Control.Stats(ctx)
	if err != nil {
		return results.Capacity{}, err
	}
	head := st.Hub.Head
	if head < cfg.Batch {
		return results.Capacity{}, fmt.Errorf("capacity: history holds %d events, batch wants %d", head, cfg.Batch)
	}
	c := results.Capacity{Target: "empty", Rate: cfg.Rate, DurationS: cfg.Duration.Seconds()}
	if cfg.Batch > 0 {
		c.Target = "batch-" + strconv.FormatUint(cfg.Batch, 10)
	}
	target := vegeta.Target{Method: "GET", URL: cfg.Control.Base + contract.Poll.Path() + "?after=" + strconv.FormatUint(head-cfg.Batch, 10)}
	attacker := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true))
	pacer := vegeta.ConstantPacer{Freq: int(cfg.Rate), Per: time.Second}

	var m vegeta.Metrics
	hist := loadgen.NewHistogram()
	for r := range attacker.Attack(vegeta.NewStaticTargeter(target), pacer, cfg.Duration, c.Target) {
		m.Add(r)
		if r.Error == "" {
			_ = hist.RecordValue(min(max(int64(r.Latency), 1), loadgen.MaxLatency)) // clamped into range
		}
		if ctx.Err() != nil {
			attacker.Stop()
		}
	}
	m.Close()
	after, err := cfg.Control.Stats(context.WithoutCancel(ctx))
	if err != nil {
		return c, err
	}
	c.Requests, c.Throughput, c.Success = m.Requests, m.Throughput, m.Success
	c.StatusCodes, c.Errors = m.StatusCodes, m.Errors
	c.LatencyNS = results.LatencyOf(hist)
	c.Server = results.Process{
		CPUSeconds: after.Process.CPUSeconds - st.Process.CPUSeconds,
		RSSBytes:   after.Process.RSSBytes,
		HeapBytes:  after.Process.HeapBytes,
		Goroutines: after.Process.Goroutines,
		OpenFiles:  after.Process.OpenFiles,
	}
	return c, ctx.Err()
}
