package servers

import "github.com/pushbench/pushbench/internal/proc"

// ProcessStats is the server process's resource use as /stats reports it:
// CPU seconds (user+system, from getrusage), resident memory, Go heap in use,
// goroutines and open files. It is the figure set the load generator reports
// for itself, read the same way (package internal/proc), so a report can set
// the server's cost beside the client's.
type ProcessStats = proc.Stats

// processStats reads this process's figures. It does not stop the world, so
// /stats can be polled during a measurement without disturbing it.
func processStats() ProcessStats { return proc.Self() }
