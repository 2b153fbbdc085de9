package servers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pushbench/pushbench/event"
)

func publishN(t testing.TB, h *Hub, n int) {
	t.Helper()
	for range n {
		seq := h.Head() + 1
		// Scheduled at seq µs: the canonical encoding carries at_us = seq.
		if err := h.Publish(NewEntry(event.New(seq, int64(seq)*1000, 8))); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(es []*Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestHubSubscribeTakeInOrder(t *testing.T) {
	h := NewHub(&HubOptions{History: 8})
	publishN(t, h, 3)
	s, gap, err := h.Subscribe(1)
	if err != nil || gap != nil {
		t.Fatal(err, gap)
	}
	got, err := s.Take(nil, 100)
	if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("Take = %v, %v", seqs(got), err)
	}
	if got, _ := s.Take(nil, 100); len(got) != 0 {
		t.Fatalf("Take after drain = %v", seqs(got))
	}
	publishN(t, h, 1)
	select {
	case <-s.Ready():
	default:
		t.Fatal("publish did not wake the subscriber")
	}
	if got, _ := s.Take(nil, 100); len(got) != 1 || got[0].Seq != 4 {
		t.Fatalf("Take = %v", seqs(got))
	}
}

func TestHubGapAndCursorAhead(t *testing.T) {
	h := NewHub(&HubOptions{History: 4})
	publishN(t, h, 10) // history holds 7..10
	s, gap, err := h.Subscribe(2)
	if err != nil || gap == nil || *gap != (event.Gap{From: 3, To: 6}) {
		t.Fatalf("Subscribe(2) gap = %v, %v", gap, err)
	}
	if got, _ := s.Take(nil, 100); len(got) != 4 || got[0].Seq != 7 {
		t.Fatalf("after gap: %v", seqs(got))
	}
	if _, gap, _ := h.Subscribe(6); gap != nil {
		t.Fatalf("cursor 6 needs event 7, which is held; got gap %v", gap)
	}
	if _, _, err := h.Subscribe(11); !errors.Is(err, ErrCursorAhead) {
		t.Fatalf("Subscribe(11) err = %v", err)
	}
	got, gap, err := h.Read(0, nil, 2)
	if err != nil || gap == nil || gap.From != 1 || gap.To != 6 || len(got) != 2 || got[0].Seq != 7 {
		t.Fatalf("Read(0) = %v %v %v", seqs(got), gap, err)
	}
}

func TestHubCutsOffSlowSubscriberWithoutBlocking(t *testing.T) {
	h := NewHub(&HubOptions{History: 64, MaxLag: 5})
	slow, _, _ := h.Subscribe(0)
	fast, _, _ := h.Subscribe(0)
	for range 20 {
		publishN(t, h, 1)
		if _, err := fast.Take(nil, 100); err != nil {
			t.Fatal(err)
		}
	}
	<-slow.Done()
	if !errors.Is(slow.Err(), ErrSlow) {
		t.Fatalf("slow err = %v", slow.Err())
	}
	if _, err := slow.Take(nil, 1); !errors.Is(err, ErrSlow) {
		t.Fatalf("Take on dropped = %v", err)
	}
	if st := h.Stats(); st.SlowDropped != 1 || st.Subscribers != 1 {
		t.Fatalf("stats %+v", st)
	}
	if fast.Err() != nil {
		t.Fatalf("fast subscriber dropped: %v", fast.Err())
	}
}

func TestHubPublishMustContinueSequence(t *testing.T) {
	h := NewHub(nil)
	if err := h.Publish(NewEntry(event.New(2, 0, 1))); !errors.Is(err, ErrNotNext) {
		t.Fatalf("err = %v", err)
	}
}

func TestHubCloseEndsSubscriptions(t *testing.T) {
	h := NewHub(nil)
	s, _, _ := h.Subscribe(0)
	h.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatal(s.Err())
	}
	if _, _, err := h.Subscribe(0); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestGenerateFollowsScheduleAndCount(t *testing.T) {
	h := NewHub(nil)
	start := time.Now()
	s := Schedule{Rate: 1000, Burst: 5, Payload: 3, Count: 50}
	if err := Generate(context.Background(), h, s, start); err != nil {
		t.Fatal(err)
	}
	got, _, _ := h.Read(0, nil, 100)
	if len(got) != 50 {
		t.Fatalf("published %d, want 50", len(got))
	}
	for i, e := range got {
		want := start.UnixNano() + int64(time.Duration(i/5*5)*time.Millisecond)
		want -= want % int64(time.Microsecond) // the encoding's resolution
		if e.Seq != uint64(i+1) || e.At != want || len(e.Data) != 3 {
			t.Fatalf("event %d = %+v, want seq %d at %d", i, e.Event, i+1, want)
		}
	}
	if time.Since(start) < 45*time.Millisecond {
		t.Fatal("generator ran ahead of its schedule")
	}
}

func BenchmarkHubPublish1000Subscribers(b *testing.B) {
	h := NewHub(nil)
	subs := make([]*Subscription, 1000)
	for i := range subs {
		subs[i], _, _ = h.Subscribe(0)
	}
	e := event.New(0, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		e.Seq = h.Head() + 1
		if err := h.Publish(NewEntry(e)); err != nil {
			b.Fatal(err)
		}
		for _, s := range subs {
			if _, err := s.Take(nil, 0); err != nil {
				b.Fatal(err)
			}
			s.cursor.Store(e.Seq)
		}
	}
}
