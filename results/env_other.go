//go:build !linux

package results

// kernelRelease is unknown off Linux; reports rendered elsewhere still load
// and render, they only describe a Linux machine less fully.
func kernelRelease() string { return "" }
