package results

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Env is the machine and build that produced a report's figures. Numbers
// from a 2-core VM and a 64-core server differ by more than transports do,
// so every report and every plot says where it came from.
type Env struct {
	// CPU is the processor's model name.
	CPU string `json:"cpu"`
	// Cores is the number of logical CPUs of the machine, not only those
	// this process may use.
	Cores       int    `json:"cores"`
	MemoryBytes uint64 `json:"memory_bytes"`
	// Kernel is the kernel release (uname -r); OS the distribution and
	// GOOS/GOARCH.
	Kernel    string `json:"kernel,omitempty"`
	OS        string `json:"os"`
	GoVersion string `json:"go_version"`
	// Commit is the pushbench source revision, with "-dirty" when the
	// working tree had changes; empty when unknown.
	Commit    string    `json:"commit,omitempty"`
	Hostname  string    `json:"hostname,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Pinning says how server and load generator shared the CPUs, e.g.
	// "server on CPU 0, loadgen on CPU 1" or "none".
	Pinning string `json:"pinning,omitempty"`
}

// CurrentEnv describes this machine now. Every part is best effort: what
// cannot be read is left empty rather than failing a benchmark over a
// missing /proc file or git binary. Pinning is left for the caller, which
// knows what it did.
func CurrentEnv() Env {
	e := Env{
		CPU:       cpuModel(),
		Cores:     runtime.NumCPU(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(),
		Commit:    gitCommit(),
		StartedAt: time.Now().UTC().Truncate(time.Second),
	}
	// NumCPU counts only the CPUs this process may run on; a pinned
	// process would report one core on a many-core machine.
	if n := cpuinfoCount(); n > 0 {
		e.Cores = n
	}
	if h, err := os.Hostname(); err == nil {
		e.Hostname = h
	}
	if d := osRelease(); d != "" {
		e.OS = d + " " + e.OS
	}
	e.MemoryBytes = memTotal()
	e.Kernel = kernelRelease()
	return e
}

// cpuModel reads the first processor's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, key := range []string{"model name", "Model", "cpu model", "Hardware"} {
		if v := cpuinfoField(b, key); v != "" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func cpuinfoField(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cpuinfoCount counts the processors /proc/cpuinfo lists; 0 if unknown.
func cpuinfoCount() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, _, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "processor" {
			n++
		}
	}
	return n
}

// memTotal reads MemTotal from /proc/meminfo, in bytes; 0 if unknown.
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kib * 1024
		}
	}
	return 0
}

// osRelease reads the distribution's name from /etc/os-release.
func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// gitCommit returns the short HEAD of the working directory's repository,
// with "-dirty" if tracked files changed, or "" outside a repository or
// without git.
func gitCommit() string {
	// A hung git (a network file system, a lock) must not hold up a
	// benchmark for a label.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	// diff-index exits 1 when the tree differs from HEAD; any other failure
	// leaves the commit unqualified.
	err = exec.CommandContext(ctx, "git", "diff-index", "--quiet", "HEAD", "--").Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 1 {
		commit += "-dirty"
	}
	return commit
}
