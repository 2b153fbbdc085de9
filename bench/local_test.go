package bench

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/internal/proc"
)

// A request that cannot fit is refused before anything starts, saying why and
// what the limit is.
func TestCheckFitRefusesWithTheLimit(t *testing.T) {
	limit, err := proc.RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckFit(100, 0); err != nil {
		t.Fatalf("100 clients refused: %v", err)
	}
	err = CheckFit(int(limit), 4)
	if err == nil {
		t.Fatalf("%d clients accepted under a limit of %d files", limit, limit)
	}
	for _, want := range []string{"open files", "RLIMIT_NOFILE", "--shard", strconv.FormatUint(limit, 10)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestSourcesSpreadOnlyOverLoopback(t *testing.T) {
	if s := Sources("http://127.0.0.1:8080", 19000); len(s) != 4 || !s[3].Equal(net.IPv4(127, 0, 0, 4)) {
		t.Fatalf("19,000 clients to loopback: %v", s)
	}
	if s := Sources("http://127.0.0.1:8080", 1000); s != nil {
		t.Fatalf("1,000 clients: %v, want the system's choice", s)
	}
	if s := Sources("http://10.200.0.1:8080", 19000); s != nil {
		t.Fatalf("a server on another host: %v, want the system's choice", s)
	}
}

func TestShareOf(t *testing.T) {
	total := 0
	for i := range 7 {
		total += ShareOf(19000, i, 7)
	}
	if total != 19000 || ShareOf(19000, 0, 7)-ShareOf(19000, 6, 7) > 1 {
		t.Fatalf("shares of 19,000 over 7 add to %d", total)
	}
}
