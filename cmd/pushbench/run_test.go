package main

import (
	"bytes"
	"context"
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
	if err := checkFit(100, 0); err != nil {
		t.Fatalf("100 clients refused: %v", err)
	}
	err = checkFit(int(limit), 4)
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
	if s := sources("http://127.0.0.1:8080", 19000, nil); len(s) != 4 || !s[3].Equal(net.IPv4(127, 0, 0, 4)) {
		t.Fatalf("19,000 clients to loopback: %v", s)
	}
	if s := sources("http://127.0.0.1:8080", 1000, nil); s != nil {
		t.Fatalf("1,000 clients: %v, want the system's choice", s)
	}
	if s := sources("http://10.200.0.1:8080", 19000, nil); s != nil {
		t.Fatalf("a server on another host: %v, want the system's choice", s)
	}
	ex := []net.IP{net.IPv4(10, 200, 0, 2)}
	if s := sources("http://10.200.0.1:8080", 19000, ex); len(s) != 1 {
		t.Fatalf("explicit sources ignored: %v", s)
	}
}

func TestParseShard(t *testing.T) {
	t.Setenv(envShard, "")
	t.Setenv(envJobIndex, "")
	t.Setenv(envShards, "")
	if _, _, ok, err := parseShard(""); ok || err != nil {
		t.Fatalf("no shard asked: ok=%v err=%v", ok, err)
	}
	if i, n, ok, err := parseShard("2/4"); !ok || err != nil || i != 2 || n != 4 {
		t.Fatalf("2/4: %d/%d %v %v", i, n, ok, err)
	}
	for _, bad := range []string{"4/4", "-1/2", "1", "a/b", "0/0"} {
		if _, _, _, err := parseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A Kubernetes Indexed Job's pod: the index from the Job, the count
	// from the spec.
	t.Setenv(envJobIndex, "3")
	t.Setenv(envShards, "5")
	if i, n, ok, err := parseShard(""); !ok || err != nil || i != 3 || n != 5 {
		t.Fatalf("from the environment: %d/%d %v %v", i, n, ok, err)
	}
	total := 0
	for i := range 7 {
		total += shareOf(19000, i, 7)
	}
	if total != 19000 || shareOf(19000, 0, 7)-shareOf(19000, 6, 7) > 1 {
		t.Fatalf("shares of 19,000 over 7 add to %d", total)
	}
}

func TestParseStartAt(t *testing.T) {
	a, err := parseStartAt("2026-01-02T03:04:05.5Z")
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseStartAt("1767323045.5")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Fatalf("%v != %v", a, b)
	}
	if _, err := parseStartAt(""); err == nil {
		t.Fatal("no start accepted")
	}
}

// A run that fails before it has figures prints the error (main does, from
// what runTo returns), not an empty table.
func TestRunPrintsNoTableWhenItFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://" + l.Addr().String()
	if err := l.Close(); err != nil { // nothing listens there now
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	var out bytes.Buffer
	err = runTo(ctx, []string{"--target", target, "--transport", "sse", "--clients", "1", "--duration", "1s"}, &out)
	if err == nil || !strings.Contains(err.Error(), "server stats") {
		t.Fatalf("run = %v, want the failed /stats request", err)
	}
	if out.Len() != 0 {
		t.Fatalf("run printed\n%s\nwant nothing: the run has no figures", out.String())
	}
}
