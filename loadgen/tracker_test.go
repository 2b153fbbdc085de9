package loadgen

import (
	"testing"

	"github.com/pushbench/pushbench/results"

	"github.com/pushbench/pushbench/event"
)

// feed sends seqs to a fresh tracker starting after 0 and closes it at head.
func feed(head uint64, seqs ...uint64) Counts {
	t := NewTracker(0, NewLatency(), 0)
	for _, s := range seqs {
		t.Event(event.Header{Seq: s, At: 0}, 1)
	}
	return t.Counts(head)
}

func TestTrackerAccounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		head uint64
		seqs []uint64
		want Counts
	}{
		{"exact", 3, []uint64{1, 2, 3}, Counts{Delivery: results.Delivery{Expected: 3, Delivered: 3}}},
		{"tail lost", 5, []uint64{1, 2, 3}, Counts{Delivery: results.Delivery{Expected: 5, Delivered: 3, Lost: 2}}},
		{"hole lost", 4, []uint64{1, 4}, Counts{Delivery: results.Delivery{Expected: 4, Delivered: 2, Lost: 2}}},
		{"duplicate", 2, []uint64{1, 2, 2, 1}, Counts{Delivery: results.Delivery{Expected: 2, Delivered: 2, Duplicates: 2}}},
		{"reordered", 4, []uint64{1, 3, 2, 4}, Counts{Delivery: results.Delivery{Expected: 4, Delivered: 4, Reordered: 1}}},
		{"hole split", 6, []uint64{1, 6, 3, 3, 5}, Counts{Delivery: results.Delivery{Expected: 6, Delivered: 4, Reordered: 2, Duplicates: 1, Lost: 2}}},
		{"nothing", 3, nil, Counts{Delivery: results.Delivery{Expected: 3, Lost: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := feed(tc.head, tc.seqs...); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTrackerGapIsSignalledNotLost(t *testing.T) {
	tr := NewTracker(2, nil, 0)
	tr.Gap(event.Gap{From: 3, To: 6})
	if tr.Cursor() != 6 {
		t.Fatalf("cursor after gap = %d", tr.Cursor())
	}
	tr.Event(event.Header{Seq: 7}, 0)
	got := tr.Counts(7)
	want := Counts{Delivery: results.Delivery{Expected: 5, Delivered: 1, Gaps: 1, GapMissed: 4}}
	if got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}
}

func TestLatencyMergesShards(t *testing.T) {
	l := NewLatency()
	for i := range 1000 {
		l.Record(i, int64(i+1)*1000)
	}
	h := l.Snapshot()
	if h.TotalCount() != 1000 || h.Max() < 999_000 || h.ValueAtQuantile(50) < 495_000 || h.ValueAtQuantile(50) > 505_000 {
		t.Fatalf("count %d max %d p50 %d", h.TotalCount(), h.Max(), h.ValueAtQuantile(50))
	}
}
