package servers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// errBadCursor is the error every malformed cursor wraps.
var errBadCursor = errors.New("bad cursor")

// maxCursorDigits is the length of the largest uint64 in decimal.
const maxCursorDigits = 20

// queryCursor reads the cursor from the after parameter of a raw query; no
// after parameter means 0, the beginning. It scans the raw string instead of
// building url.Values, since the poll handler runs it on every request and
// the other parameters do not matter.
func queryCursor(rawQuery string) (uint64, error) {
	var val string
	found := false
	for q := rawQuery; q != ""; {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.IndexByte(k, '%') >= 0 {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue // not a parameter we could have meant
			}
			k = uk
		}
		if k != "after" {
			continue
		}
		if found {
			return 0, fmt.Errorf("%w: after given more than once", errBadCursor)
		}
		found, val = true, v
	}
	if !found {
		return 0, nil
	}
	if strings.ContainsAny(val, "%+") {
		uv, err := url.QueryUnescape(val)
		if err != nil {
			return 0, fmt.Errorf("%w %q: want a non-negative integer", errBadCursor, clip(val))
		}
		val = uv
	}
	return parseCursor(val, "")
}

// sseCursor reads an SSE client's cursor: the Last-Event-ID header a
// reconnecting EventSource sends wins over the after parameter of the URL it
// reuses. An empty header is no header.
func sseCursor(r *http.Request) (uint64, error) {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return parseCursor(id, " in Last-Event-ID")
	}
	return queryCursor(r.URL.RawQuery)
}

// parseCursor parses a cursor: decimal digits only, at most 20 of them,
// fitting a uint64. where names the source in the error for the client.
func parseCursor(s, where string) (uint64, error) {
	if s == "" || len(s) > maxCursorDigits {
		return 0, badCursor(s, where)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, badCursor(s, where)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, badCursor(s, where)
		}
		v = v*10 + d
	}
	return v, nil
}

func badCursor(s, where string) error {
	if s != "" && strings.Trim(s, "0123456789") == "" { // digits, but too many
		return fmt.Errorf("%w %q%s: want at most 18446744073709551615", errBadCursor, clip(s), where)
	}
	return fmt.Errorf("%w %q%s: want a non-negative integer", errBadCursor, clip(s), where)
}

// clip shortens what a client sent before it is echoed in an error.
func clip(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// refuse answers a request the hub or the cursor parser turned down: a bad or
// impossible cursor is the client's fault (400), a closed hub means the server
// is going away (503).
func refuse(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBadCursor), errors.Is(err, ErrCursorAhead):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrClosed):
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
