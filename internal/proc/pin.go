package proc

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseCPUs reads a comma-separated CPU list, as "0" or "0,1".
func ParseCPUs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 0 {
			return nil, fmt.Errorf("bad CPU list %q: want CPU numbers, comma-separated", s)
		}
		out = append(out, c)
	}
	return out, nil
}

// Pin restricts every thread of this process to the given CPUs, and sets
// GOMAXPROCS to their number. Threads the Go runtime starts later inherit
// the mask from the thread that creates them, so pinning all current threads
// pins the process. The runtime reads the CPUs it may use only at start: left
// alone, a process pinned to one CPU would keep two Ps fighting over it,
// waking each other for nothing.
func Pin(cpus ...int) error {
	if err := pinTasks("/proc/self/task", cpus); err != nil {
		return err
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// PinProcess restricts every thread of process pid to the given CPUs: a
// server in another language, which cannot pin itself.
func PinProcess(pid int, cpus ...int) error {
	return pinTasks("/proc/"+strconv.Itoa(pid)+"/task", cpus)
}

// pinTasks pins every thread listed in dir.
func pinTasks(dir string, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin thread %d to %v: %w", tid, cpus, err)
		}
	}
	return nil
}

// RaiseFileLimit raises the soft open-file limit to the hard one and returns
// it: each connection is a file, and the soft limit is often far lower.
func RaiseFileLimit() (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}
