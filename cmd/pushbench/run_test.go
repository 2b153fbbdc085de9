package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
)

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
