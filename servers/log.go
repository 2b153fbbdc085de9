package servers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// The files a Log keeps in its directory. A name with tmpSuffix is a
// replacement being written; it only ever becomes the real file by a rename.
const (
	logFile      = "events.log"
	scheduleFile = "schedule.json"
	tmpSuffix    = ".tmp"
)

// FsyncPolicy says when a Log forces what it wrote to stable storage.
type FsyncPolicy string

// The fsync policies.
const (
	// FsyncNone never calls fsync. An event is written, into the kernel's
	// page cache, before it is published; the page cache belongs to the
	// kernel and outlives the process, so a crash of the server (a panic,
	// the OOM killer, kill -9) loses nothing a client saw. A kernel crash or
	// a power loss may lose the newest events, clients' ones included.
	FsyncNone FsyncPolicy = "none"
	// FsyncBatch calls fsync after writing each batch the generator
	// publishes, before publishing it, so what a client saw also survives a
	// power loss (on a disk that honours flushes). It costs one fsync per
	// publish.
	FsyncBatch FsyncPolicy = "batch"
)

// FsyncPolicies lists every FsyncPolicy, as --fsync takes them.
var FsyncPolicies = []FsyncPolicy{FsyncNone, FsyncBatch}

// Errors OpenLog and Restore refuse a log with.
var (
	// ErrLogCorrupt refuses a log holding a complete record that a Log
	// cannot have written: not an event's canonical encoding, or a seq that
	// does not follow the one before. (A torn final record is not
	// corruption: see OpenLog.)
	ErrLogCorrupt  = errors.New("servers: event log is corrupt")
	errNotRestored = errors.New("servers: event log has no hub: call Restore first")
	errRestored    = errors.New("servers: event log already restored")
	errLogClosed   = errors.New("servers: event log closed")
)

// ParseFsync reads an FsyncPolicy by name.
func ParseFsync(s string) (FsyncPolicy, error) {
	if p := FsyncPolicy(s); slices.Contains(FsyncPolicies, p) {
		return p, nil
	}
	return "", fmt.Errorf("unknown fsync policy %q: want %s or %s", clip(s), FsyncNone, FsyncBatch)
}

// LogOptions configures a Log. A nil *LogOptions means defaults.
type LogOptions struct {
	// Fsync is when appended events are forced to stable storage. Defaults
	// to FsyncNone, which survives a crash of the process but not of the
	// machine.
	Fsync FsyncPolicy
}

// Log is a server's durable state in one directory: an append-only log of
// the events it published, so that a server restarted after a crash still
// holds the history clients resume from, and the schedule it was running, so
// that the restarted server goes on with it.
//
// # Format
//
// events.log holds one record per event: its canonical JSON encoding, exactly
// the bytes every transport sends, followed by '\n'. The encoding escapes
// control characters, so JSON never contains a raw newline and the newline
// alone frames records; the file reads with tail and jq. Seqs are contiguous
// from the first record to the last.
//
// # Write-ahead
//
// Publish writes a batch to the file before it publishes the batch to the
// hub, so no client can ever have seen an event the log lacks. Under
// FsyncNone that holds across a crash of the process, since a write that
// returned is in the kernel's page cache; under FsyncBatch the batch is
// fsynced before it is published, and it holds across a power loss too.
//
// # Recovery
//
// A crash in the middle of a write leaves a torn final record: bytes without
// a newline after them. OpenLog truncates it; those events were never
// published, and the resumed generator makes them again. Every complete
// record must decode, be canonical and continue the sequence; anything else
// is ErrLogCorrupt, with the record's offset, rather than a history silently
// rewritten.
//
// # Bound
//
// When the file holds more than twice the hub's History events, Publish
// rewrites it with the newest History (all a restored hub can hold) into
// events.log.tmp and renames that over events.log: a crash leaves one file
// or the other whole. The file therefore holds between History and twice
// History events, plus one batch, and each event is written twice on
// average. The rewrite runs in the Publish that crossed the bound, after its
// batch is out, so it can only delay the next batch, by the time it takes to
// write History events (a few MB at the defaults): a delay that shows in the
// latency like any other.
//
// # Schedule
//
// schedule.json holds the running schedule and the instant it started
// (RunningSchedule). Server.Start saves it, replaced through a temporary
// file and a rename, Server.Stop removes it, and a restarted server resumes
// it (Server.Resume). Shutting down does not remove it: only a stop ends a
// schedule.
//
// A Log assumes it is the only writer of its directory and the only
// publisher to its hub.
type Log struct {
	dir   string
	fsync FsyncPolicy

	// mu serialises appends, so the file's order is the hub's, and guards
	// everything below.
	mu      sync.Mutex
	f       *os.File // events.log, open for appending
	hub     *Hub     // set by Restore
	loaded  []*Entry // read by OpenLog, until Restore takes them
	last    uint64   // newest seq in the file; 0 when it is empty
	records int      // events in the file
	size    int64    // bytes in the file
	torn    int64    // bytes of a torn record OpenLog truncated
	sched   *RunningSchedule
	buf     []byte // reused to write each batch with one write
	// err fails every append after a failed write: where the file ends
	// is then unknown, and only reopening it (a restart) finds out.
	err                error
	syncs, compactions uint64
}

// OpenLog opens the Log in dir, creating dir and the log if need be, and
// reads it: the events, which Restore hands to a hub, and the running
// schedule, if one was saved.
//
// A final record without its newline is what a crash in mid-write leaves: it
// is truncated, and counted in LogStats.TornBytes. Any other flaw is
// ErrLogCorrupt.
func OpenLog(dir string, opts *LogOptions) (*Log, error) {
	var o LogOptions
	if opts != nil {
		o = *opts
	}
	if o.Fsync == "" {
		o.Fsync = FsyncNone
	}
	if _, err := ParseFsync(string(o.Fsync)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{dir: dir, fsync: o.Fsync}
	// A temporary file is what a compaction or a schedule save was writing
	// when it crashed, before its rename: the file it was to replace is
	// whole, and the temporary one is of no use.
	for _, name := range []string{logFile + tmpSuffix, scheduleFile + tmpSuffix} {
		if err := os.Remove(l.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	f, err := os.OpenFile(l.path(logFile), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	l.f = f
	err = l.read()
	if err == nil {
		err = l.readSchedule()
	}
	if err == nil && l.fsync == FsyncBatch {
		// The log may be new, or just truncated: make that durable too.
		err = errors.Join(f.Sync(), syncDir(dir))
	}
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return l, nil
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

// read loads every record of the file, checking each, and truncates a torn
// final one.
func (l *Log) read() error {
	br := bufio.NewReaderSize(l.f, 64<<10)
	var (
		off int64
		enc []byte
	)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				l.torn = int64(len(line))
				if err := l.f.Truncate(off); err != nil {
					return fmt.Errorf("truncate torn record at byte %d of %s: %w", off, l.path(logFile), err)
				}
			}
			break
		}
		if err != nil {
			return err
		}
		rec := line[:len(line)-1]
		bad := func(why string, args ...any) error {
			return fmt.Errorf("%w: %s: record %d at byte %d %s (truncating the file to %d bytes keeps the events before it)",
				ErrLogCorrupt, l.path(logFile), n, off, fmt.Sprintf(why, args...), off)
		}
		var e event.Event
		if err := event.Decode(rec, &e); err != nil {
			return bad("does not decode: %v", err)
		}
		// Canonical bytes make the restored entry exactly what clients
		// were sent, and catch damage that still decodes.
		if enc = e.AppendJSON(enc[:0]); !bytes.Equal(enc, rec) {
			return bad("is not the canonical encoding of event %d", e.Seq)
		}
		if l.last != 0 && e.Seq != l.last+1 {
			return bad("has seq %d, want %d: the sequence has a hole or a repeat", e.Seq, l.last+1)
		}
		l.loaded = append(l.loaded, &Entry{Event: e, JSON: rec})
		l.last = e.Seq
		off += int64(len(line))
	}
	l.records, l.size = len(l.loaded), off
	return nil
}

// Restore returns a new hub configured by opts holding the newest of the
// log's events, as many as its History: the hub's head is the log's last
// seq, so the stream goes on where it stopped, and a client resuming from
// any cursor gets what the server that crashed would have sent it, a gap
// signal included. From then on Publish publishes to that hub. Restore may be
// called once.
func (l *Log) Restore(opts *HubOptions) (*Hub, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hub != nil {
		return nil, errRestored
	}
	h, err := NewHubFrom(opts, l.loaded)
	if err != nil {
		return nil, err
	}
	l.hub, l.loaded = h, nil
	return h, nil
}

// Head is the newest seq in the log, which is the hub's head once Restore
// has returned it.
func (l *Log) Head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Publish writes entries to the log and then publishes them to the hub
// Restore returned: first to the log, so no client can see an event the log
// lacks. Entries must continue the sequence.
//
// If the hub is closed, the entries stay in the log and Publish returns
// ErrClosed: the next server publishes them. A failed write fails this and
// every later Publish, since where the file ends is then unknown; a restart
// reads it again and repairs it.
func (l *Log) Publish(entries ...*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.err != nil:
		return l.err
	case l.hub == nil:
		return errNotRestored
	}
	for i, e := range entries {
		if e.Seq != l.last+1+uint64(i) {
			return fmt.Errorf("%w: log ends at %d, got seq %d", ErrNotNext, l.last, e.Seq)
		}
	}
	// Checked here, while nothing is written: an event in the log that the
	// hub then refused would be published by the next server only.
	if head := l.hub.Head(); head != l.last {
		return fmt.Errorf("%w: hub head %d, log ends at %d: the log must be the hub's only publisher", ErrNotNext, head, l.last)
	}
	if err := l.append(entries); err != nil {
		l.err = fmt.Errorf("servers: event log %s: %w", l.path(logFile), err)
		return l.err
	}
	if err := l.hub.Publish(entries...); err != nil {
		return err
	}
	if n := len(l.hub.ring); l.records > 2*n {
		if err := l.compact(n); err != nil {
			l.err = fmt.Errorf("servers: compact event log %s: %w", l.path(logFile), err)
			return l.err
		}
	}
	return nil
}

// maxRetainedBuf bounds the write buffer a Log keeps between batches.
const maxRetainedBuf = 1 << 20

// append writes entries with one write, so that a crash tears at most the
// last record, and fsyncs them under FsyncBatch. Callers hold mu.
func (l *Log) append(entries []*Entry) error {
	buf := l.buf[:0]
	for _, e := range entries {
		buf = append(append(buf, e.JSON...), '\n')
	}
	if cap(buf) <= maxRetainedBuf {
		l.buf = buf
	}
	if _, err := l.f.Write(buf); err != nil {
		return err
	}
	l.last += uint64(len(entries))
	l.records += len(entries)
	l.size += int64(len(buf))
	return l.sync(l.f)
}

// sync fsyncs f under FsyncBatch. Callers hold mu.
func (l *Log) sync(f *os.File) error {
	if l.fsync != FsyncBatch {
		return nil
	}
	l.syncs++
	return f.Sync()
}

// compact replaces the file with one holding only the newest n events, which
// the hub holds. Callers hold mu and have just published, so the hub's head
// is the log's last seq.
func (l *Log) compact(n int) (err error) {
	keep, _, err := l.hub.Read(l.last-uint64(n), make([]*Entry, 0, n), n)
	if err != nil {
		return err
	}
	if len(keep) != n || keep[n-1].Seq != l.last {
		return fmt.Errorf("hub holds %d events up to the log's last, %d, want %d", len(keep), l.last, n)
	}
	tmp := l.path(logFile + tmpSuffix)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close(), os.Remove(tmp))
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	var size int64
	for _, e := range keep {
		if _, err := bw.Write(e.JSON); err != nil {
			return err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		size += int64(len(e.JSON)) + 1
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := l.sync(f); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.path(logFile)); err != nil {
		return err
	}
	if l.fsync == FsyncBatch {
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	// The renamed file is open for appending already; the old one is
	// unlinked, and nothing written to it is needed any more.
	_ = l.f.Close()
	l.f, l.records, l.size = f, n, size
	l.compactions++
	return nil
}

// RunningSchedule is a schedule and the instant it started: what a restarted
// server needs to go on with it. Its Schedule's First is set.
type RunningSchedule struct {
	Schedule
	Start time.Time `json:"start"`
}

// Schedule returns the running schedule the log holds, if any: the one
// saved when the log was opened, or saved since.
func (l *Log) Schedule() (RunningSchedule, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sched == nil {
		return RunningSchedule{}, false
	}
	return *l.sched, true
}

// SaveSchedule records rs as the running schedule, replacing any.
func (l *Log) SaveSchedule(rs RunningSchedule) error {
	b, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.replace(scheduleFile, append(b, '\n')); err != nil {
		return fmt.Errorf("servers: save schedule: %w", err)
	}
	l.sched = &rs
	return nil
}

// ClearSchedule forgets the running schedule, so that a restart does not
// resume it.
func (l *Log) ClearSchedule() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Remove(l.path(scheduleFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("servers: clear schedule: %w", err)
	}
	l.sched = nil
	if l.fsync == FsyncBatch {
		return syncDir(l.dir)
	}
	return nil
}

// readSchedule loads schedule.json, if there is one.
func (l *Log) readSchedule() error {
	b, err := os.ReadFile(l.path(scheduleFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var rs RunningSchedule
	if err := json.Unmarshal(b, &rs); err != nil {
		return fmt.Errorf("servers: %s: %w", l.path(scheduleFile), err)
	}
	if rs.First == 0 || rs.Start.IsZero() {
		return fmt.Errorf("servers: %s: no first seq or start time", l.path(scheduleFile))
	}
	l.sched = &rs
	return nil
}

// replace writes data to the file name through a temporary file and a
// rename, so that a crash leaves the old content or the new one, whole.
// Callers hold mu.
func (l *Log) replace(name string, data []byte) (err error) {
	tmp := l.path(name + tmpSuffix)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && l.fsync == FsyncBatch {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, l.path(name))
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	if l.fsync == FsyncBatch {
		return syncDir(l.dir)
	}
	return nil
}

// syncDir fsyncs a directory, which makes the creation, removal and renaming
// of its files durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Stats describes the log.
func (l *Log) Stats() contract.LogStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := contract.LogStats{
		Dir: l.dir, Fsync: string(l.fsync), Last: l.last, Events: l.records, Bytes: l.size,
		Syncs: l.syncs, Compactions: l.compactions, TornBytes: l.torn,
	}
	if l.records > 0 {
		s.First = l.last - uint64(l.records) + 1
	}
	return s
}

// Close fsyncs the log, whatever the policy, so that a server shut down
// gracefully leaves every event on disk, and closes it. Publish fails after
// Close.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(l.err, errLogClosed) {
		return nil
	}
	l.err = errLogClosed
	return errors.Join(l.f.Sync(), l.f.Close())
}
