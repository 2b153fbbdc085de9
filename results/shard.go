package results

import "time"

// Shard describes one load generator's share of a run spread over several
// (`pushbench run --shard I/N`). Shards connect their clients, wait for an
// agreed wall-clock instant, and measure the same events: shard 0 starts the
// server's schedule at that instant, with a fixed event count, so every shard
// knows the last event without asking another.
type Shard struct {
	// Index is 0-based; Count is how many shards share the run.
	Index int `json:"index"`
	Count int `json:"count"`
	// Clients is this shard's share; the run's Clients is the same figure,
	// and the merged run's the sum.
	Clients int `json:"clients"`
	// Host is the shard's host name.
	Host string `json:"host,omitempty"`
	// StartAt is the agreed instant, on each shard's own clock.
	StartAt time.Time `json:"start_at"`
	// Starter is set on the shard that started the server's schedule.
	Starter bool `json:"starter,omitempty"`
	// Clock is the shard's estimate of the server's clock offset (copied
	// from its run when merged).
	Clock *Clock `json:"clock,omitempty"`
	// ServerBefore is the server's memory before this shard connected;
	// ServerAtStart at StartAt, when every shard had connected. Memory per
	// connection of a sharded run comes from these: no one shard's
	// before-and-after delta holds only its own connections.
	ServerBefore  Memory `json:"server_before"`
	ServerAtStart Memory `json:"server_at_start"`
}

// Memory is a process's resident set and Go heap at one instant.
type Memory struct {
	RSSBytes  uint64 `json:"rss_bytes"`
	HeapBytes uint64 `json:"heap_bytes"`
}

// Clock is an estimate of how far the server's clock is ahead of the load
// generator's. Latency is a generator's arrival time minus the server's
// stamp, so on two hosts it carries the offset: true latency is the measured
// figure plus OffsetNS, within ErrorNS either way.
type Clock struct {
	// OffsetNS is server clock minus generator clock, the midpoint of the
	// interval the offset was shown to lie in; ErrorNS is half that
	// interval's width, a strict bound if neither clock stepped meanwhile.
	OffsetNS int64 `json:"offset_ns"`
	ErrorNS  int64 `json:"error_ns"`
	// Method says how it was estimated.
	Method string `json:"method"`
}
