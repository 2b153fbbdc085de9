package servers

import (
	"runtime"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/event"
)

// heapAfterGC is the live heap once garbage is collected. The second GC
// clears what sync.Pool's victim cache kept through the first.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// wsWritersBlocked counts WebSocket connections whose writer is blocked in a
// write to its client.
func wsWritersBlocked() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	blocked := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, " [IO wait") && (strings.Contains(g, "(*coalescingConn).Write(") || strings.Contains(g, "(*coalescingConn).flush(")) {
			blocked++
		}
	}
	return blocked
}

// WebSocket clients that never read must not make the server hold whole
// batches: each stalled connection may hold at most a chunk (batchChunk) of
// frames, as an SSE stream does. Gathered whole, a batch of 64 events of
// 64 KiB is 4 MiB per connection.
func TestWSStalledClientsHoldAtMostAChunk(t *testing.T) {
	const clients, payload = 16, 64 << 10
	// What a stalled connection may add to the heap: its chunk, gorilla's
	// write buffer, its reader's buffer and the two goroutines' stacks come
	// to under 100 KiB; a whole batch would be 4 MiB.
	const perConn = 256 << 10
	s := newTestServer(t, testConfig{
		hub: &HubOptions{History: 2 * streamBatch, MaxLag: 2 * streamBatch},
		// Writes stay stuck for the whole test.
		opts:   &Options{WriteTimeout: 3 * testTimeout},
		sndbuf: 8 << 10,
	})
	for seq := uint64(1); seq <= streamBatch; seq++ {
		if err := s.hub.Publish(NewEntry(event.New(seq, 0, payload))); err != nil {
			t.Fatal(err)
		}
	}
	before := heapAfterGC()
	for range clients {
		dialStalled(t, s, contract.WS)
	}
	waitFor(t, "every stalled connection's writer to block in a write", func() bool { return wsWritersBlocked() == clients })
	grew := heapAfterGC() - before
	t.Logf("%d stalled connections, %d-byte events: heap grew %d KiB, %d KiB each", clients, payload, grew>>10, grew/clients>>10)
	if grew > clients*perConn {
		t.Fatalf("heap grew %d KiB for %d stalled connections: more than the %d KiB each allowed", grew>>10, clients, perConn>>10)
	}
}
