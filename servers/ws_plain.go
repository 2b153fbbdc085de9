package servers

import "net/http"

// newWSPlain serves WebSocket with gorilla/websocket as gorilla's examples
// do: WriteMessage for every event, each its own write to the socket,
// where the default (newWS) coalesces a batch into one. Everything else is
// the default's, so the two differ by coalescing alone.
func newWSPlain(m mount) http.Handler {
	return newWSHandler(m, func(o *Options) wsUpgrade { return upgradeGorilla(o, false) })
}
