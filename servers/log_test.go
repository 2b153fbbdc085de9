package servers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// openLog opens the log in dir and restores a hub from it.
func openLog(t testing.TB, dir string, hub *HubOptions, opts *LogOptions) (*Log, *Hub) {
	t.Helper()
	l, err := OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.Restore(hub)
	if err != nil {
		t.Fatal(errors.Join(err, l.Close()))
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	return l, h
}

// logEvents publishes n events through l in batches of up to batch.
func logEvents(t testing.TB, l *Log, n, batch int) {
	t.Helper()
	for n > 0 {
		b := make([]*Entry, min(n, batch))
		for i := range b {
			seq := l.Head() + 1 + uint64(i)
			b[i] = NewEntry(event.New(seq, int64(seq)*1000, 8))
		}
		if err := l.Publish(b...); err != nil {
			t.Fatal(err)
		}
		n -= len(b)
	}
}

// logLines returns the records in dir's event log.
func logLines(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, logFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("log does not end with a newline: %q", b[max(0, len(b)-40):])
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

func TestLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l, h := openLog(t, dir, nil, nil)
	if h.Head() != 0 || l.Head() != 0 {
		t.Fatalf("new log: heads %d %d", h.Head(), l.Head())
	}
	logEvents(t, l, 10, 3)
	if h.Head() != 10 {
		t.Fatalf("hub head %d after publishing 10 through the log", h.Head())
	}
	want, _, err := h.Read(0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The file is the canonical encodings, one a line: what clients got.
	lines := logLines(t, dir)
	if len(lines) != 10 {
		t.Fatalf("%d records, want 10", len(lines))
	}
	for i, e := range want {
		if lines[i] != string(e.JSON) {
			t.Fatalf("record %d = %s, want %s", i, lines[i], e.JSON)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Publish(NewEntry(event.New(11, 0, 1))); !errors.Is(err, errLogClosed) {
		t.Fatalf("publish after close: %v", err)
	}

	l2, h2 := openLog(t, dir, nil, nil)
	got, gap, err := h2.Read(0, nil, 100)
	if err != nil || gap != nil || h2.Head() != 10 || l2.Head() != 10 {
		t.Fatalf("restored head %d, gap %v, err %v", h2.Head(), gap, err)
	}
	for i := range want {
		if got[i].Event != want[i].Event || !bytes.Equal(got[i].JSON, want[i].JSON) {
			t.Fatalf("restored event %d = %s, want %s", i, got[i].JSON, want[i].JSON)
		}
	}
	if st := l2.Stats(); st != (contract.LogStats{Dir: dir, Fsync: string(FsyncNone), First: 1, Last: 10, Events: 10, Bytes: st.Bytes}) || st.Bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLogTruncatesTornFinalRecord(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, nil, nil)
	logEvents(t, l, 5, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, logFile)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in mid-write: event 6 half written, no newline.
	torn := NewEntry(event.New(6, 6000, 8)).JSON[:20]
	if err := os.WriteFile(path, append(bytes.Clone(whole), torn...), 0o644); err != nil {
		t.Fatal(err)
	}

	l2, h2 := openLog(t, dir, nil, nil)
	if h2.Head() != 5 || l2.Stats().TornBytes != int64(len(torn)) {
		t.Fatalf("head %d, stats %+v", h2.Head(), l2.Stats())
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, whole) {
		t.Fatalf("torn record not truncated: %q (%v)", b[len(whole)-min(len(whole), 10):], err)
	}
	// The sequence goes on from the last whole record.
	logEvents(t, l2, 2, 2)
	if lines := logLines(t, dir); len(lines) != 7 || !strings.HasPrefix(lines[5], `{"seq":6,`) {
		t.Fatalf("records after repair: %q", lines)
	}
}

func TestLogRejectsCorruption(t *testing.T) {
	rec := func(seq uint64) string { return string(NewEntry(event.New(seq, int64(seq)*1000, 4)).JSON) + "\n" }
	for _, tc := range []struct {
		name, content, want string
	}{
		{"hole", rec(1) + rec(2) + rec(4), "record 3 at byte 97 has seq 4, want 3"},
		{"repeat", rec(1) + rec(2) + rec(2), "has seq 2, want 3"},
		{"garbage", rec(1) + "not json\n" + rec(2), "record 2 at byte"},
		{"no seq", `{"at_us":1,"type":"tick","data":""}` + "\n", "does not decode"},
		{"not canonical", rec(1) + strings.Replace(rec(2), `,"at_us"`, `, "at_us"`, 1), "not the canonical encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, logFile), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := OpenLog(dir, nil)
			if !errors.Is(err, ErrLogCorrupt) || !strings.Contains(err.Error(), tc.want) {
				if l != nil {
					t.Error(l.Close())
				}
				t.Fatalf("err = %v, want ErrLogCorrupt saying %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func TestLogCompactionKeepsNewestHistory(t *testing.T) {
	const history = 10
	dir := t.TempDir()
	hubOpts := &HubOptions{History: history}
	l, h := openLog(t, dir, hubOpts, nil)
	for range 40 {
		logEvents(t, l, 1, 1)
		if n := len(logLines(t, dir)); n > 2*history {
			t.Fatalf("log holds %d events after publishing %d: unbounded", n, h.Head())
		}
	}
	logEvents(t, l, 25, 7) // batches too
	st := l.Stats()
	if st.Compactions == 0 || st.Last != 65 || st.Events < history || st.Events > 2*history+7 {
		t.Fatalf("stats %+v", st)
	}
	lines := logLines(t, dir)
	if len(lines) != st.Events || !strings.HasPrefix(lines[len(lines)-1], `{"seq":65,`) {
		t.Fatalf("%d records, last %s; stats %+v", len(lines), lines[len(lines)-1], st)
	}
	if _, err := os.Stat(filepath.Join(dir, logFile+tmpSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart holds the newest History, and a client from 0 gets the gap.
	_, h2 := openLog(t, dir, hubOpts, nil)
	got, gap, err := h2.Read(0, nil, 100)
	if err != nil || gap == nil || *gap != (event.Gap{From: 1, To: 55}) || len(got) != history || got[0].Seq != 56 {
		t.Fatalf("restored: gap %v, %d events from %d, %v", gap, len(got), got[0].Seq, err)
	}

	// A larger history than the log holds still knows which events are
	// gone: the gap names exactly those before the log's first.
	l3, err := OpenLog(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	h3, err := l3.Restore(&HubOptions{History: 100})
	if err != nil {
		t.Fatal(err)
	}
	got, gap, err = h3.Read(0, nil, 100)
	// It serves every event the log still holds (at least the newest
	// History), and the gap ends exactly where they begin.
	if err != nil || gap == nil || gap.From != 1 || gap.To+1 != got[0].Seq || gap.To > 55 ||
		got[len(got)-1].Seq != h3.Head() || uint64(len(got)) != h3.Head()-gap.To {
		t.Fatalf("restored with a larger history: gap %v, %d events from %d, head %d, %v", gap, len(got), got[0].Seq, h3.Head(), err)
	}
}

func TestLogRestoreContinuesSequence(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, nil, &LogOptions{Fsync: FsyncBatch})
	logEvents(t, l, 3, 2)
	if st := l.Stats(); st.Syncs != 2 || st.Fsync != string(FsyncBatch) {
		t.Fatalf("batch policy: stats %+v, want 2 syncs", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2, h2 := openLog(t, dir, nil, nil)
	if err := l2.Publish(NewEntry(event.New(5, 0, 1))); !errors.Is(err, ErrNotNext) {
		t.Fatalf("publish of seq 5 after 3: %v", err)
	}
	if _, _, err := h2.Read(4, nil, 1); !errors.Is(err, ErrCursorAhead) {
		t.Fatalf("cursor 4 on head 3: %v", err)
	}
	sub, gap, err := h2.Subscribe(3)
	if err != nil || gap != nil {
		t.Fatalf("subscribe at the restored head: %v %v", gap, err)
	}
	defer sub.Close()
	logEvents(t, l2, 2, 2)
	got, err := sub.Take(nil, 10)
	if err != nil || len(got) != 2 || got[0].Seq != 4 || got[1].Seq != 5 {
		t.Fatalf("took %v, %v", seqs(got), err)
	}

	// Only the log publishes to its hub.
	if err := h2.Publish(NewEntry(event.New(6, 0, 1))); err != nil {
		t.Fatal(err)
	}
	if err := l2.Publish(NewEntry(event.New(6, 0, 1))); !errors.Is(err, ErrNotNext) {
		t.Fatalf("publish behind the hub's back: %v", err)
	}
	if _, err := l2.Restore(nil); !errors.Is(err, errRestored) {
		t.Fatalf("second restore: %v", err)
	}
	if _, err := ParseFsync("always"); err == nil {
		t.Fatal("ParseFsync accepted always")
	}
}

func TestGenerateResumesAfterOutageWithScheduledTimes(t *testing.T) {
	dir := t.TempDir()
	const rate, count = 200, 60 // 5 ms apart
	start := time.Now()
	sch := Schedule{Rate: rate, Payload: 8, Count: count, First: 1}

	// The first server publishes 10 events and dies.
	l, _ := openLog(t, dir, nil, nil)
	crashed := sch
	crashed.Count = 10
	if err := Generate(context.Background(), l, crashed, start); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The outage: the schedule goes on without a server.
	outage := start.Add(150 * time.Millisecond)
	time.Sleep(time.Until(outage))

	l2, h2 := openLog(t, dir, nil, nil)
	sub, _, err := h2.Subscribe(h2.Head())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	restart := time.Now()
	done := make(chan error, 1)
	go func() { done <- Generate(context.Background(), l2, sch, start) }()
	arrived := map[uint64]time.Time{}
	var buf []*Entry
	for len(arrived) < count-10 {
		select {
		case <-sub.Ready():
		case <-time.After(testTimeout):
			t.Fatalf("hang guard: only %d events arrived after the restart, then none for %v", len(arrived), testTimeout)
		}
		now := time.Now()
		buf, err = sub.Take(buf[:0], 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range buf {
			arrived[e.Seq] = now
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got, _, err := h2.Read(0, nil, 100)
	if err != nil || len(got) != count {
		t.Fatalf("%d events, %v", len(got), err)
	}
	due := 0
	for i, e := range got {
		// Every event keeps its place in the original schedule.
		want := start.UnixNano() + int64(i)*int64(time.Second/rate)
		want -= want % int64(time.Microsecond) // the encoding's resolution
		if e.Seq != uint64(i+1) || e.At != want {
			t.Fatalf("event %d = seq %d at %d, want seq %d at %d", i, e.Seq, e.At, i+1, want)
		}
		if i >= 10 && e.At < restart.UnixNano() {
			due++ // during the outage
		}
	}
	if due < 15 {
		t.Fatalf("%d events were due during a %v outage, want about 20", due, outage.Sub(start))
	}
	// The first event after the crash was due 100 ms before the restart,
	// and its latency says so.
	if e := got[10]; arrived[e.Seq].Sub(time.Unix(0, e.At)) < 90*time.Millisecond {
		t.Fatalf("event %d: latency %v hides the outage", e.Seq, arrived[e.Seq].Sub(time.Unix(0, e.At)))
	}

	// A schedule that would leave a hole is refused.
	ahead := sch
	ahead.First = 100
	if err := Generate(context.Background(), l2, ahead, start); !errors.Is(err, ErrNotNext) {
		t.Fatalf("schedule from 100 on head %d: %v", h2.Head(), err)
	}
}

func TestServerResumesItsSavedSchedule(t *testing.T) {
	dir := t.TempDir()
	serve := func() (*Log, *Server) {
		l, h := openLog(t, dir, nil, nil)
		srv := mustNew(t, h, nil)
		srv.SetLog(l)
		t.Cleanup(srv.Close)
		return l, srv
	}

	l, srv := serve()
	if _, ok, err := srv.Resume(); ok || err != nil {
		t.Fatalf("resume with nothing saved: %v %v", ok, err)
	}
	first, err := srv.Start(Schedule{Rate: 2000, Payload: 4, Count: 400})
	if err != nil || first != 1 {
		t.Fatalf("start: %d %v", first, err)
	}
	waitFor(t, "some events", func() bool { return l.Head() >= 20 })
	srv.Close() // not a stop: the schedule stays saved
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	stopped := l.Head()

	l2, srv2 := serve()
	rs, ok, err := srv2.Resume()
	if err != nil || !ok || rs.First != 1 || rs.Count != 400 || rs.Rate != 2000 {
		t.Fatalf("resume: %+v %v %v", rs, ok, err)
	}
	if _, err := srv2.Start(Schedule{}); !errors.Is(err, ErrGeneratorRunning) {
		t.Fatalf("start while resumed: %v", err)
	}
	waitFor(t, "the rest of the schedule", func() bool { return l2.Head() == 400 })

	// /stats states the log and its policy.
	ts := httptest.NewServer(srv2)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st contract.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Log == nil || st.Log.Fsync != string(FsyncNone) || st.Log.Last != 400 || st.Log.Dir != dir {
		t.Fatalf("stats log %+v, %v", st.Log, err)
	}

	if head, err := srv2.Stop(); err != nil || head != 400 {
		t.Fatalf("stop: %d %v", head, err)
	}
	if _, ok := l2.Schedule(); ok {
		t.Fatal("stop left the schedule saved")
	}
	if _, err := os.Stat(filepath.Join(dir, scheduleFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("schedule file after stop: %v", err)
	}
	if stopped >= 400 {
		t.Fatalf("the first server published everything (%d): nothing was resumed", stopped)
	}
	srv2.Close()
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	_, srv3 := serve()
	if _, ok, err := srv3.Resume(); ok || err != nil {
		t.Fatalf("resume after stop: %v %v", ok, err)
	}
}
