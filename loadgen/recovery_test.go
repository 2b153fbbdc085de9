package loadgen

import (
	"testing"
	"time"

	"github.com/pushbench/pushbench/event"
)

func TestTrackerRecordsBreaks(t *testing.T) {
	tr := NewTracker(0, nil, 0)
	past := time.Now().Add(-time.Second).UnixNano()
	tr.Attempt()
	tr.Connected()
	tr.Event(event.Header{Seq: 1, At: past}, past+1)
	tr.Disconnected()
	tr.Disconnected() // a second report of the same break is ignored
	if tr.Up() {
		t.Fatal("up after Disconnected")
	}
	tr.Attempt() // refused
	tr.Attempt()
	tr.Connected()
	tr.Event(event.Header{Seq: 2, At: past}, time.Now().UnixNano()) // replayed
	if tr.Recovered() != 0 {
		t.Fatal("recovered before an event published after the reconnect")
	}
	tr.Event(event.Header{Seq: 3, At: time.Now().UnixNano()}, time.Now().UnixNano())
	if tr.Recovered() != 1 {
		t.Fatalf("recovered = %d, want 1", tr.Recovered())
	}
	tr.Event(event.Header{Seq: 4, At: time.Now().UnixNano()}, time.Now().UnixNano())

	bs := tr.Breaks()
	if len(bs) != 1 {
		t.Fatalf("%d breaks, want 1", len(bs))
	}
	b := bs[0]
	if b.LastEvent != past+1 || b.Detected == 0 || b.Reconnected < b.Detected ||
		b.FirstEvent < b.Reconnected || b.CaughtUp < b.FirstEvent || b.Replayed != 1 || b.Attempts != 2 {
		t.Fatalf("break %+v", b)
	}

	r := Recover([]*Tracker{tr}, time.Time{}, time.Unix(0, b.Detected), time.Unix(0, b.Detected+1))
	if r.Broken != 1 || r.Reconnected != 1 || r.CaughtUp != 1 || r.Replayed != 1 ||
		r.Attempts != 2 || r.FailedAttempts != 1 || r.Detect.Count != 1 || r.Detect.Max < 999e6 {
		t.Fatalf("recovery %+v", r)
	}
	if none := Recover([]*Tracker{tr}, time.Time{}, time.Unix(0, b.Detected+1), time.Now()); none.Broken != 0 {
		t.Fatalf("break outside the window counted: %+v", none)
	}
}

// TestTrackerChainsDeadConnections checks that a connection that opens but
// dies before delivering does not end the recovery, as during a partition.
func TestTrackerChainsDeadConnections(t *testing.T) {
	tr := NewTracker(0, nil, 0)
	tr.Attempt()
	tr.Connected()
	tr.Disconnected()
	tr.Attempt()
	tr.Connected() // accepted, then silent
	tr.Disconnected()
	tr.Attempt()
	tr.Connected()
	tr.Event(event.Header{Seq: 1, At: time.Now().UnixNano()}, time.Now().UnixNano())
	r := Recover([]*Tracker{tr}, time.Time{}, time.Time{}, time.Now())
	if r.Broken != 1 || r.Reconnected != 1 || r.CaughtUp != 1 || r.Attempts != 2 || r.FailedAttempts != 1 {
		t.Fatalf("recovery %+v", r)
	}
}
