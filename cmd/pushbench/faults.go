package main

import "context"

func init() {
	commands["faults"] = command{"run the faults matrix: every fault against every transport, into results.json and report.md (bench --matrix faults)", faultsCmd}
}

// faultsCmd is `bench --matrix faults`: the flags are bench's.
func faultsCmd(ctx context.Context, args []string) error {
	return benchCmd(ctx, append([]string{"--matrix", "faults"}, args...))
}
