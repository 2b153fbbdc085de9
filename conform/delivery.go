package conform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
)

// The delivery run: a few of the load generator's clients follow a short
// schedule, in pairs (burst 2) so that the schedule's times show bursts.
const (
	deliveryClients = 3
	deliveryCount   = 60
	deliveryRate    = 200
	deliveryBurst   = 2
	deliveryPayload = 48
	// deliveryPoll is the polling clients' pause: short, so the run is.
	deliveryPoll = 50 * time.Millisecond
)

func checkExactlyOnce(t contract.Transport) string {
	return fmt.Sprintf("%d %s clients get every event of a %d-event schedule exactly once and in order", deliveryClients, t, deliveryCount)
}

// delivery runs the load generator's clients of t through a short schedule
// and checks their accounts: every event once, in order, none malformed.
// Every event they receive goes through the transport's content checks.
func (r *run) delivery(ctx context.Context, t contract.Transport) {
	name := checkExactlyOnce(t)
	if !r.needPublish(string(t), name) {
		return
	}
	if err := r.refreshHead(ctx); err != nil {
		r.fail(string(t), name, err.Error())
		return
	}
	c := r.contentOf(t)
	after := r.head
	// A client silent for this long is dead to it: longer than the
	// server's heartbeat or ping interval, which the liveness checks check.
	readTimeout := r.o.Liveness + r.o.Timeout
	f, err := loadgen.StartFleet(ctx, loadgen.FleetConfig{
		Transport: t,
		Target:    r.o.URL,
		Clients:   deliveryClients,
		After:     after,
		Options: loadgen.Options{
			PollInterval: deliveryPoll,
			ReadTimeout:  readTimeout,
			SSERetry:     100 * time.Millisecond,
			BackoffMax:   time.Second,
			Observe:      c.observe,
		},
	})
	if err != nil {
		r.fail(string(t), name, "starting the clients: "+err.Error())
		return
	}
	defer f.Stop()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	err = f.WaitConnected(wctx)
	cancel()
	if err != nil {
		r.fail(string(t), name, "connecting the clients: "+err.Error())
		return
	}
	s := contract.Schedule{Rate: deliveryRate, Burst: deliveryBurst, Payload: deliveryPayload, Count: deliveryCount}
	// The times are watched from the first event the schedule will publish;
	// start answers it, but the events may arrive before it does.
	c.watch(s, after+1)
	first, last, err := r.publish(ctx, s)
	if err != nil {
		r.fail(string(t), name, err.Error())
		return
	}
	if first != after+1 {
		c.watch(s, first) // start's own check has failed already
	}
	wctx, cancel = context.WithTimeout(ctx, readTimeout)
	err = f.WaitCaughtUp(wctx, last)
	cancel()
	f.Stop()
	n := f.Counts(last)
	var whys []string
	if err != nil {
		whys = append(whys, fmt.Sprintf("not every client reached event %d: %v", last, err))
	}
	if !n.Exact() || n.Delivered != n.Expected || n.Gaps > 0 {
		whys = append(whys, fmt.Sprintf("%d clients × events %d..%d: delivered %d of %d, lost %d, duplicates %d, reordered %d, malformed %d, gap signals %d",
			deliveryClients, first, last, n.Delivered, n.Expected, n.Lost, n.Duplicates, n.Reordered, n.Malformed, n.Gaps))
	}
	if errs := f.Errors(); len(errs) > 0 && !errors.Is(err, loadgen.ErrClientsGaveUp) {
		var s []string
		for _, e := range errs {
			s = append(s, e.Error())
		}
		whys = append(whys, "clients gave up: "+strings.Join(s, "; "))
	}
	r.verdict(string(t), name, whys)
}
