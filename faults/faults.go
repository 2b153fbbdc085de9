// Package faults injects network faults between the load generator's clients
// and a server: a Toxiproxy proxy run in-process, on loopback, that clients
// connect to instead of the server.
//
// Every network fault is one of Toxiproxy's toxics or its own enable/disable,
// never a home-made imitation:
//
//   - ResetAll: every connection reset at once while the server stays up
//     (the proxy is disabled, which closes every connection, and enabled
//     again; a reset_peer toxic installed with toxicity 0 makes every
//     connection linger 0, so those closes are RSTs, not FINs).
//   - Partition: the timeout toxic with timeout 0 in both directions. Bytes
//     stop in both directions and nothing closes: both ends keep a half-open
//     connection that only a heartbeat and a read timeout can tell from an
//     idle one. Healing removes the toxic, which closes the connections that
//     went through the partition, as a NAT or load balancer that forgot them
//     during an outage does.
//   - Degrade: the latency toxic (latency ± jitter) and the bandwidth toxic.
//   - SlowClose: the slow_close toxic, a peer that takes its time to close.
//   - CutAfter: the limit_data toxic, a connection closed after some bytes.
package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// ErrClosed is returned by a fault on a proxy that was closed.
var ErrClosed = errors.New("faults: proxy closed")

// Proxy forwards TCP connections from Addr to an upstream server and injects
// faults into them. Its methods are safe for concurrent use.
type Proxy struct {
	mu     sync.Mutex // serialises faults: enable/disable and toxics
	p      *toxiproxy.Proxy
	closed bool
}

// Listen starts a proxy on a free loopback port forwarding to upstream
// (host:port).
func Listen(upstream string) (*Proxy, error) {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "pushbench", "127.0.0.1:0", upstream)
	// Toxiproxy sets SO_LINGER 0 on a connection only if a reset_peer toxic
	// is in the chain when the connection is made. With toxicity 0 it never
	// acts on data, but every connection is made ready to be reset.
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(
		`{"name":"linger0","type":"reset_peer","stream":"downstream","toxicity":0,"attributes":{"timeout":0}}`)); err != nil {
		return nil, fmt.Errorf("faults: reset_peer toxic: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("faults: proxy to %s: %w", upstream, err)
	}
	return &Proxy{p: p}, nil
}

// Addr is the proxy's host:port; clients connect here.
func (p *Proxy) Addr() string {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Listen
}

// Close stops the proxy and resets every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.p.Stop()
}

// ResetAll resets every connection through the proxy at once and refuses new
// ones for down (0: none), while the server behind stays up. Clients see an
// RST on every connection, then refused dials until down has passed.
func (p *Proxy) ResetAll(ctx context.Context, down time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.p.Stop()
	if down > 0 {
		t := time.NewTimer(down)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	// The proxy listens again on the port it had: Listen holds the address
	// the first start resolved.
	if err := p.p.Start(); err != nil {
		return fmt.Errorf("faults: restart proxy: %w", err)
	}
	return nil
}

// Heal undoes a fault.
type Heal func() error

// Partition stops every byte in both directions, on existing connections and
// new ones, without closing anything, until heal is called. See the package
// comment for what healing does to the connections.
func (p *Proxy) Partition() (heal Heal, err error) {
	return p.add(
		toxic{"partition_down", "timeout", "downstream", `{"timeout":0}`},
		toxic{"partition_up", "timeout", "upstream", `{"timeout":0}`},
	)
}

// Degrade adds latency ± jitter to data from the server, and limits its
// bandwidth to kbps KB/s (0: unlimited), until heal is called.
func (p *Proxy) Degrade(latency, jitter time.Duration, kbps int64) (heal Heal, err error) {
	ts := []toxic{{"latency", "latency", "downstream",
		fmt.Sprintf(`{"latency":%d,"jitter":%d}`, latency.Milliseconds(), jitter.Milliseconds())}}
	if kbps > 0 {
		ts = append(ts, toxic{"bandwidth", "bandwidth", "downstream", fmt.Sprintf(`{"rate":%d}`, kbps)})
	}
	return p.add(ts...)
}

// SlowClose delays the close of connections from the server's side by delay,
// until heal is called.
func (p *Proxy) SlowClose(delay time.Duration) (heal Heal, err error) {
	return p.add(toxic{"slow_close", "slow_close", "downstream", fmt.Sprintf(`{"delay":%d}`, delay.Milliseconds())})
}

// CutAfter closes each connection once it has carried n bytes from the
// server, until heal is called.
func (p *Proxy) CutAfter(n int64) (heal Heal, err error) {
	return p.add(toxic{"limit_data", "limit_data", "downstream", fmt.Sprintf(`{"bytes":%d}`, n)})
}

// toxic is one Toxiproxy toxic: attrs is its attributes as JSON.
type toxic struct{ name, typ, stream, attrs string }

// add installs toxics and returns the function that removes them.
func (p *Proxy) add(ts ...toxic) (Heal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var added []string
	remove := func() error {
		var errs []error
		for _, name := range added {
			if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
				errs = append(errs, fmt.Errorf("faults: remove %s: %w", name, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, t := range ts {
		body := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, t.name, t.typ, t.stream, t.attrs)
		if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
			return nil, errors.Join(fmt.Errorf("faults: add %s: %w", t.name, err), remove())
		}
		added = append(added, t.name)
	}
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			err = remove()
		})
		return err
	}, nil
}
