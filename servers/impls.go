package servers

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

// Impl is one server implementation of one transport, over the shared hub,
// options and wire protocol (docs/contract.md). Reports name it
// TRANSPORT/NAME.
type Impl struct {
	Transport contract.Transport
	Name      string
	// Default marks the implementation a transport gets when none is named.
	Default bool
	// Module is the Go module the implementation is built on; empty for
	// the standard library alone. Its version is read from the build.
	Module string
	// Engine is the HTTP server the implementation runs under.
	Engine Engine
	// Command, set for an implementation in another language, starts it as
	// a server process of its own (docs/contract.md, section 5); it has no
	// handler here.
	Command []string
	// Notes says what the implementation does differently from the others
	// because its library offers nothing closer; reports print it.
	Notes string
	// handler serves the transport from what every implementation shares.
	handler func(m mount) http.Handler
}

// Engine is the HTTP server an implementation runs under.
type Engine string

const (
	// NetHTTP is net/http's server: a goroutine per connection.
	NetHTTP Engine = ""
	// NBIO is github.com/lesismal/nbio's HTTP server on an event loop: no
	// goroutine per connection.
	NBIO Engine = "nbio"
)

// mount is what every implementation's handler is built from: the hub, the
// options, and the server's counters and stream group, so that /stats and
// Close see every implementation alike.
type mount struct {
	hub     *Hub
	o       Options
	polls   *pollCounters
	streams *streamCounters
	group   *streamGroup
}

// impls is the one place that names every server implementation of every
// transport: adding one is one entry here (and its handler in a file of its
// own). Tables, plots, flags and scenarios read this list.
var impls = []Impl{
	{Transport: contract.Poll, Name: "std", Default: true, handler: newPoll},
	{Transport: contract.LongPoll, Name: "std", Default: true, handler: newLongPoll},
	{Transport: contract.SSE, Name: "std", Default: true, handler: newSSE},
	{Transport: contract.SSE, Name: "gosse", Module: "github.com/tmaxmax/go-sse",
		Notes: "a retry: under 1 ms (a RetryJitter draw) is sent as 1 ms, as go-sse writes none for 0; the headers go out in a write of their own", handler: newGoSSE},
	{Transport: contract.WS, Name: "gorilla", Default: true, Module: "github.com/gorilla/websocket",
		Notes: "each batch of messages goes out in one write (coalescing)", handler: newWS},
	{Transport: contract.WS, Name: "gorilla-plain", Module: "github.com/gorilla/websocket",
		Notes: "one write per message, as gorilla's examples do (no coalescing)", handler: newWSPlain},
	{Transport: contract.WS, Name: "coder", Module: "github.com/coder/websocket",
		Notes: "write deadlines are contexts; pings wait for their pong on a goroutine of their own; Close waits a fixed 5 s for the close frame and 5 s for the answer (others: 1 s); net/http's 4 KiB read and write buffers stay with the connection", handler: newWSCoder},
	{Transport: contract.WS, Name: "gws", Module: "github.com/lxzan/gws",
		Notes: "closes the TCP connection right after its close frame, with no grace for the client's answer; a missed pong gets a close frame (1000), not a silent drop; no Origin check of its own (the handler's refuses cross-origin, as the others')", handler: newWSGWS},
	{Transport: contract.SSE, Name: "nbio", Module: "github.com/lesismal/nbio", Engine: NBIO,
		Notes: nbioNotes + "; the response ends by closing its connection after the last chunk", handler: newSSENBIO},
	{Transport: contract.WS, Name: "nbio", Module: "github.com/lesismal/nbio", Engine: NBIO,
		Notes: nbioNotes + "; RFC 6455 framing is pushbench's own, as nbio's WebSocket package starts goroutine pools at init", handler: newWSNBIO},

	// The contract in Node.js (node/): one process serving every transport
	// on node's http module, WebSocket on npm's ws.
	{Transport: contract.Poll, Name: "node", Command: nodeServer, Notes: nodeNotes},
	{Transport: contract.LongPoll, Name: "node", Command: nodeServer, Notes: nodeNotes},
	{Transport: contract.SSE, Name: "node", Command: nodeServer, Notes: nodeNotes},
	{Transport: contract.WS, Name: "node", Command: nodeServer,
		Notes: nodeNotes + "; event frames are built once with ws's own framing and written to each socket, not sent through ws.send per client"},
}

// nodeServer starts node/server.js, relative to the repository.
var nodeServer = []string{"node", "node/server.js"}

// nodeNotes is what every Node.js implementation does differently.
const nodeNotes = "a separate Node.js process, pinned from outside; one event loop thread; timers resolve to the millisecond"

// Impls lists the implementations of transport t, the default first; all of
// every transport when t is empty.
func Impls(t contract.Transport) []Impl {
	var out []Impl
	for _, i := range impls {
		if t == "" || i.Transport == t {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b Impl) int {
		if c := contract.Order(a.Transport, b.Transport); c != 0 {
			return c
		}
		switch {
		case a.Default && !b.Default:
			return -1
		case b.Default && !a.Default:
			return 1
		}
		return 0
	})
	return out
}

// LookupImpl finds transport t's implementation called name; an empty name
// is the default.
func LookupImpl(t contract.Transport, name string) (Impl, error) {
	var names []string
	for _, i := range Impls(t.Base()) {
		if i.Name == name || (name == "" && i.Default) {
			return i, nil
		}
		names = append(names, i.Name)
	}
	if len(names) == 0 {
		return Impl{}, fmt.Errorf("no server implements %q", t)
	}
	return Impl{}, fmt.Errorf("no implementation %q of %s (have %s)", name, t, strings.Join(names, ", "))
}

// Library is what the implementation is built on, with its version as this
// build has it: "github.com/lxzan/gws v1.8.9", or "net/http go1.26.8".
func (i Impl) Library() string {
	if i.Module == "" {
		return "net/http " + runtime.Version()
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == i.Module {
				return d.Path + " " + d.Version
			}
		}
	}
	return i.Module
}
