// Package servers serves one event stream over three transports: short
// polling, Server-Sent Events and WebSocket. Each transport is an http.Handler
// over the same Hub, and every one of them sends the event's canonical JSON
// (package event) byte for byte. A fourth, TCPServer, sends the same bytes
// as lines over plain TCP: the floor the others are measured against. The
// HTTP transports speak HTTP/1.1, and HTTP/2 where the server offers it
// (TLS with ALPN, or cleartext h2c with prior knowledge); the protocol below
// is the same on either.
//
// # Wire protocol
//
// A cursor is the sequence number of the last event a client has; 0 means
// "from the beginning". Cursors are decimal digits only, at most 20 of them,
// and must fit a uint64; anything else is 400 Bad Request. A cursor beyond the
// newest event is 400 too: no client can have seen it.
//
// Polling: GET /poll?after=SEQ answers 200 with
//
//	{"events":[EVENT,…],"next":SEQ,"more":BOOL}
//
// holding at most PollBatch events after SEQ; next is the cursor to send next
// time and more says whether further events are already waiting. With nothing
// new it answers 204 No Content and an empty body, which is cheap for both
// ends. A gap adds "gap":{"from":F,"to":T} to a 200 answer.
//
// SSE: GET /sse?after=SEQ, or with a Last-Event-ID header on reconnect (the
// header wins, as a browser's EventSource sends it with the original URL).
// The stream starts with "retry: MS" and then, per event,
//
//	id: SEQ
//	event: TYPE
//	data: EVENT
//
// followed by a blank line. Heartbeats are comment lines (": hb"). A gap is the
// event "event: gap" whose data is {"gap":{"from":F,"to":T}} and whose id is T,
// so a client that reconnects after it does not ask for the missing events
// again.
//
// WebSocket: GET /ws?after=SEQ upgrades; the server sends one event per text
// message and a gap as the text message {"gap":{"from":F,"to":T}}. Clients send
// nothing but control frames; a data message longer than ReadLimit closes the
// connection with 1009 (message too big), a text message that is not UTF-8
// with 1007 (invalid frame payload data), and a close frame whose body is one
// byte, or whose code is not one a peer may send, with 1002 (protocol error).
// The server pings every PingInterval and closes a connection that sends no
// pong within PongWait. A subscriber cut off for being slow is closed with 1008
// (policy violation), and a server shutting down closes with 1001 (going away).
//
// A subscriber that falls more than MaxLag events behind is disconnected and
// counted (an SSE response is cut off mid-stream, a WebSocket closed with
// 1008); its client resumes from its cursor. A server shutting down ends every
// stream (an SSE response simply ends, a WebSocket closes with 1001) and
// answers new requests, streams and polls alike, with 503 Service Unavailable.
//
// # Hostile clients
//
// What the serve command runs (Server.HTTPServer on listeners from
// Server.Listener) bounds what one client can hold. No endpoint takes a
// request body: a request with one is answered 413 at once and its
// connection closed, so a client that declares a body and never sends it
// holds nothing. A request must arrive within ReadTimeout (its headers
// within 10 s), and a connection idle between requests is closed after
// IdleTimeout. At MaxConns open connections, by default the open-file limit
// less FDMargin, the server still accepts: streams and polls are answered
// 503 Service Unavailable with Connection: close (the TCP floor's with its
// error line), /healthz, /stats and /control still answer, and /stats counts
// the refusals. An HTTP/2 connection has at most 100 streams open, and one
// whose client resets streams before they are answered, more than 100 at
// once or more than 10 a second, is closed. A stream that stops reading holds
// at most 32 KiB of frames, whatever the events' size. With a ControlToken,
// /control requires "Authorization: Bearer TOKEN" and answers 401 without.
//
// # Surviving a crash
//
// With an event Log (serve --data DIR), every batch is appended to an
// append-only file before subscribers can see it, and a restarted server
// restores its history and resumes the running schedule from it: clients
// resume with nothing lost, and events scheduled during the outage are
// published late with their original times, so their latency shows it.
package servers
