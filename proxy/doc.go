// Package proxy runs the reverse-proxy scenario: Debian's nginx, started on
// loopback with a configuration pushbench generates (Start), in front of a
// pushbench server, carrying the fan-out load for polling, SSE and WebSocket,
// measured directly and through nginx (Run). It also measures SSE through
// nginx set up so that it buffers the stream, and the two fixes: the
// server's "X-Accel-Buffering: no" header and proxy_buffering off.
//
// The TCP floor is not proxied: it needs nginx's stream module, which Debian
// ships apart (libnginx-mod-stream) and nginx-light does not pull in.
package proxy
