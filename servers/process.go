package servers

import (
	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/proc"
)

// processStats reads the server process's resource use as /stats reports it:
// CPU seconds (user+system, from getrusage), resident memory, Go heap in use,
// goroutines and open files. It is the figure set the load generator reports
// for itself, read the same way (package internal/proc), so a report can set
// the server's cost beside the client's. It does not stop the world, so
// /stats can be polled during a measurement without disturbing it.
func processStats() contract.ProcessStats { return proc.Self() }
