package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
)

// DefaultControlTimeout bounds each request Control makes when its Timeout
// is not set: a server that accepts the connection and never answers ends
// the run with an error instead of holding it for ever.
const DefaultControlTimeout = 10 * time.Second

// maxControlAnswer bounds a control answer's body; /stats is a few hundred
// bytes.
const maxControlAnswer = 1 << 20

// controlClient is Control's default client: net/http's default Transport
// with the response header bounded as the load generator's clients bound
// theirs.
var controlClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = loadgen.MaxResponseHeaderBytes
	return &http.Client{Transport: tr}
}()

// Control talks to a server's /stats and /control endpoints (see
// docs/contract.md). A refused start is contract.ErrRunning and a refused
// token contract.ErrUnauthorized, for errors.Is.
type Control struct {
	// Base is the server's HTTP base URL, e.g. http://127.0.0.1:8080.
	Base string
	// Client makes the requests; nil means net/http's default Transport
	// with the response header bounded.
	Client *http.Client
	// Token, if set, is sent as "Authorization: Bearer TOKEN" with every
	// request: a server listening beyond loopback requires it on
	// /control/*.
	Token string
	// Timeout bounds each request, on top of ctx. Defaults to
	// DefaultControlTimeout.
	Timeout time.Duration
}

func (c Control) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return controlClient
}

func (c Control) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultControlTimeout
}

// do makes one request and decodes a 200 answer into into (when not nil).
func (c Control) do(ctx context.Context, method, path, query string, into any) error {
	u := c.Base + path
	if query != "" {
		u += "?" + query
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, u, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", contract.TokenScheme+" "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s %s: no answer within %v: %w", method, u, c.timeout(), err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxControlAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	why := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		hint := "no token was sent"
		if c.Token != "" {
			hint = "the token sent is not the server's"
		}
		return fmt.Errorf("%w: %s %s: %s (%s): %s", contract.ErrUnauthorized, method, path, resp.Status, hint, why)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s %s: %s", contract.ErrRunning, method, path, why)
	default:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, why)
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// Stats reads the server's /stats.
func (c Control) Stats(ctx context.Context) (contract.Stats, error) {
	var s contract.Stats
	err := c.do(ctx, http.MethodGet, contract.PathStats, "", &s)
	return s, err
}

// Start starts the server's schedule and returns the first event it will
// publish.
func (c Control) Start(ctx context.Context, s contract.Schedule) (first uint64, err error) {
	var v contract.Started
	err = c.do(ctx, http.MethodPost, contract.PathStart, s.Query(), &v)
	return v.First, err
}

// Stop stops the server's schedule and returns the newest event published.
func (c Control) Stop(ctx context.Context) (head uint64, err error) {
	var v contract.Stopped
	err = c.do(ctx, http.MethodPost, contract.PathStop, "", &v)
	return v.Head, err
}
