package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
	"github.com/pushbench/pushbench/internal/proc"
	"github.com/pushbench/pushbench/loadgen"
	"github.com/pushbench/pushbench/results"
)

// ShardMargin is how long before the agreed start every shard must have all
// its clients connected. Halfway through it each shard reads the server's
// memory, which then holds every shard's connections.
const ShardMargin = time.Second

// Errors of sharded runs.
var (
	// ErrStartPassed is a shard that could not be ready by the agreed
	// start: started too late, or its clients connected too slowly.
	ErrStartPassed = errors.New("bench: too close to or past the shard start time")
	// ErrBadShard is a shard index or count that makes no sense.
	ErrBadShard = errors.New("bench: bad shard")
	// ErrForeignEvents is a server that published other events than the
	// shards' schedule during the run: something else started it.
	ErrForeignEvents = errors.New("bench: server published events outside the shared schedule")
)

// Shard makes a run one share of a run spread over Count load
// generators, possibly on several hosts, against one server started with
// `pushbench serve --wait-start`.
//
// Every shard connects its clients, then waits for StartAt on its own clock.
// The Starter (shard 0 from the command line) then starts the server's
// schedule with a fixed count, ScheduleCount(rate, burst, warm-up+duration)
// events, so every shard knows the last event without asking another; only
// one party may start it, or the server refuses the second start (409). The
// warm-up boundary is read off the server's own stamp of the first event,
// not off any shard's clock, so every shard leaves out exactly the same
// events from latency, and their results merge exactly
// (results.MergeRuns).
type Shard struct {
	// Index is 0-based, below Count.
	Index, Count int
	// StartAt is the agreed wall-clock instant the schedule starts.
	StartAt time.Time
	// Starter starts the server's schedule at StartAt.
	Starter bool
}

func (s *Shard) validate() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w %d/%d: want 0 <= index < count", ErrBadShard, s.Index, s.Count)
	}
	if s.StartAt.IsZero() {
		return fmt.Errorf("%w: no start time", ErrBadShard)
	}
	return nil
}

// ShareOf is shard i's share of clients out of n shards: as equal as they
// come, the first ones taking one more.
func ShareOf(clients, i, n int) int {
	share := clients / n
	if i < clients%n {
		share++
	}
	return share
}

// ScheduleCount is how many events a schedule of rate events/s in bursts of
// burst publishes in d: those scheduled before d (see servers.Schedule).
func ScheduleCount(rate float64, burst int, d time.Duration) uint64 {
	b := float64(max(burst, 1))
	bursts := math.Ceil(d.Seconds()*rate/b - 1e-9)
	return uint64(max(bursts, 1) * b)
}

func memory(p proc.Stats) results.Memory {
	return results.Memory{RSSBytes: p.RSSBytes, HeapBytes: p.HeapBytes}
}

// start records the server's memory once every shard has connected, waits
// for StartAt, starts the schedule if this shard is the starter, and moves
// the warm-up boundary onto the server's clock.
func (s *Shard) start(ctx context.Context, ctl Control, fleet *loadgen.Fleet, run *results.Run, before contract.Stats, count uint64, p Plan) error {
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	run.Shard = &results.Shard{
		Index: s.Index, Count: s.Count, Clients: p.Clients, Host: host,
		StartAt: s.StartAt, Starter: s.Starter, ServerBefore: memory(before.Process),
	}
	if err := sleepCtx(ctx, time.Until(s.StartAt.Add(-ShardMargin/2))); err != nil {
		return err
	}
	atStart, err := ctl.Stats(ctx)
	if err != nil {
		return fmt.Errorf("server stats: %w", err)
	}
	run.Shard.ServerAtStart = memory(atStart.Process)
	if atStart.Hub.Head != before.Hub.Head {
		return fmt.Errorf("%w: head moved from %d to %d before the start", ErrForeignEvents, before.Hub.Head, atStart.Hub.Head)
	}
	// Provisional, on this host's clock, until the server's stamp is known.
	fleet.SetMeasureFrom(s.StartAt.Add(p.Warmup).UnixNano())
	if err := sleepCtx(ctx, time.Until(s.StartAt)); err != nil {
		return err
	}
	if s.Starter {
		sch := p.Schedule
		sch.Count = count
		if _, err := ctl.Start(ctx, sch); err != nil {
			return fmt.Errorf("starting the schedule: %w", err)
		}
	}
	// The first event is stamped with the instant the server started the
	// schedule: the warm-up ends Warmup after it, on the server's clock,
	// for every shard alike.
	deadline := s.StartAt.Add(p.Warmup + p.Duration + p.Drain)
	at, err := ctl.firstStamp(ctx, before.Hub.Head, deadline)
	if err != nil {
		return fmt.Errorf("reading the schedule's start from the server: %w", err)
	}
	fleet.SetMeasureFrom(at + int64(p.Warmup))
	return nil
}

// finish waits until the server has published head (bounded by drain) and,
// on the starter, stops the generator. It fails if the server's head is not
// exactly head: another party published too.
func (s *Shard) finish(ctx context.Context, ctl Control, head uint64, drain time.Duration) error {
	bg := context.WithoutCancel(ctx)
	wctx, cancel := context.WithTimeout(ctx, drain)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := ctl.Stats(bg)
		if err != nil {
			return fmt.Errorf("server stats: %w", err)
		}
		if st.Hub.Head >= head {
			break
		}
		select {
		case <-wctx.Done():
			// Stop below all the same; the clients' account shows what
			// was missing.
		case <-tick.C:
			continue
		}
		break
	}
	got := head
	if s.Starter {
		h, err := ctl.Stop(bg)
		if err != nil {
			return fmt.Errorf("stopping the schedule: %w", err)
		}
		got = h
	} else {
		st, err := ctl.Stats(bg)
		if err != nil {
			return fmt.Errorf("server stats: %w", err)
		}
		got = st.Hub.Head
	}
	if got != head {
		return fmt.Errorf("%w: head %d, the schedule ends at %d", ErrForeignEvents, got, head)
	}
	return nil
}

// firstStamp polls the server's /poll for the event after seq after and
// returns its scheduled time (Unix ns, server clock), trying every 20 ms
// until deadline.
func (c Control) firstStamp(ctx context.Context, after uint64, deadline time.Time) (int64, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	url := c.Base + "/poll?after=" + strconv.FormatUint(after, 10)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.client().Do(req)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, loadgen.MaxPollBody))
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		switch resp.StatusCode {
		case http.StatusNoContent:
		case http.StatusOK:
			var ans struct {
				Events []json.RawMessage `json:"events"`
			}
			if err := json.Unmarshal(body, &ans); err != nil {
				return 0, fmt.Errorf("poll answer: %w", err)
			}
			if len(ans.Events) == 0 {
				return 0, fmt.Errorf("poll answer without events: %.200s", body)
			}
			h, err := event.DecodeHeader(ans.Events[0])
			if err != nil {
				return 0, err
			}
			if h.Seq != after+1 {
				return 0, fmt.Errorf("%w: first event %d, want %d", ErrForeignEvents, h.Seq, after+1)
			}
			return h.At, nil
		default:
			return 0, fmt.Errorf("GET /poll: %s (the server must serve /poll)", resp.Status)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
