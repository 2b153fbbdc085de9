package bench

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pushbench/pushbench/loadgen"
)

// The control client keeps its idle connections for the next request;
// nothing else may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// hangGuard bounds every wait of these tests: a hang guard, not a
// measurement.
const hangGuard = 30 * time.Second

// fastRetry makes clients reconnect at once.
var fastRetry = loadgen.Options{BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, SSERetry: time.Millisecond}

// silentServer accepts connections and reads them, but never answers.
func silentServer(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close() // ends Accept
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			_ = c.Close()
		}
	})
	return l.Addr().String(), conns
}

// sseSend writes SSE headers (on the first call) and lines, and flushes;
// false means the client has gone.
func sseSend(w http.ResponseWriter, lines ...string) bool {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, l := range lines {
		if _, err := w.Write([]byte(l + "\n")); err != nil {
			return false
		}
	}
	return http.NewResponseController(w).Flush() == nil
}
