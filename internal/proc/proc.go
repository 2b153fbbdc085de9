// Package proc reads a process's resource use from the kernel: CPU time,
// resident memory, Go heap, goroutines and open files. Server and load
// generator report the same figures the same way, so a reader can set one
// beside the other.
package proc

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
)

// Stats is a snapshot of this process.
type Stats struct {
	// CPUSeconds is user+system CPU time since the process started.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBytes is the resident set size.
	RSSBytes uint64 `json:"rss_bytes"`
	// HeapBytes is Go heap memory in use by objects.
	HeapBytes  uint64 `json:"heap_inuse_bytes"`
	Goroutines int    `json:"goroutines"`
	OpenFiles  int    `json:"open_files"`
}

// Self reads this process's figures. It avoids runtime.ReadMemStats, which
// stops the world, so it is cheap enough to call during a measurement.
func Self() Stats {
	var s Stats
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
	}
	s.RSSBytes = rss()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		s.HeapBytes = sample[0].Value.Uint64()
	}
	s.Goroutines = runtime.NumGoroutine()
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.OpenFiles = len(fds) - 1 // minus the descriptor ReadDir itself held
	}
	return s
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// rss reads the resident set from /proc/self/statm (pages); 0 if unreadable.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
