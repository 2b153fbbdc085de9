package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushbench/pushbench/bench"
	"github.com/pushbench/pushbench/event"
)

// Settings of the restart check.
const (
	// resumeRate is the served stream's rate, events/s.
	resumeRate = 20.0
	// resumeRetry is the reconnection delay the server asks EventSource for.
	resumeRetry = 250 * time.Millisecond
	// resumeBefore and resumeAfter are how many events the browser must have
	// before the kill and past it after the restart.
	resumeBefore, resumeAfter = 20, 20
	// resumePoll is how often the check samples the page.
	resumePoll = 50 * time.Millisecond
	// resumeWait bounds each wait on the browser.
	resumeWait = 20 * time.Second
)

// checkResume follows a `pushbench serve` process with one EventSource,
// kills the server, restarts it on the same address and data directory, and
// reports whether the browser resumed by itself with nothing lost.
func checkResume(bctx context.Context, opts Options) ResumeCheck {
	if len(opts.Serve) == 0 {
		return ResumeCheck{Skipped: "no `pushbench serve` command to run"}
	}
	if err := hasDataFlag(bctx, opts.Serve); err != nil {
		if errors.Is(err, errNoData) {
			return ResumeCheck{Skipped: err.Error()}
		}
		return ResumeCheck{Error: err.Error()}
	}
	opts.Logf("browser: restart: following %s, to be killed and restarted", strings.Join(opts.Serve, " "))
	var rc ResumeCheck
	if err := resume(bctx, opts, &rc); err != nil {
		rc.Error = err.Error()
	}
	return rc
}

// hasDataFlag asks `serve -h` whether it takes --data.
func hasDataFlag(ctx context.Context, serve []string) error {
	argv := append(serve[:len(serve):len(serve)], "-h")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	if !dataFlag.Match(out) {
		return errNoData
	}
	return nil
}

// dataFlag finds --data in the flag package's usage text.
var dataFlag = regexp.MustCompile(`(?m)^\s+-data\b`)

func resume(bctx context.Context, opts Options, rc *ResumeCheck) error {
	dir, err := os.MkdirTemp("", "pushbench-browser-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	serve := func(addr string) (*bench.Server, error) {
		return bench.StartServer(bctx, bench.ServerSpec{
			Command: opts.Serve, Addr: addr, Data: dir,
			Rate: resumeRate, Payload: opts.Payload, Retry: resumeRetry,
		})
	}

	first, err := serve("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer first.Kill() // a no-op once killed below
	u, err := url.Parse(first.URL)
	if err != nil {
		return err
	}
	tab, closeTab, err := openTab(bctx, first.URL+PagePath)
	if err != nil {
		return err
	}
	defer closeTab()
	po := pageOptions{After: 0, Types: eventTypes(), GapType: event.GapType}
	if _, err := call[chromedp.Void](tab, actionTimeout, "follow", po); err != nil {
		return err
	}
	if _, err := waitFollowed(tab, "events before the kill", func(a account) bool { return a.Last >= resumeBefore }); err != nil {
		return err
	}

	// SIGKILL: no graceful end of the stream, no chance to flush anything.
	first.Kill()
	// Once the EventSource has seen the connection drop it can receive
	// nothing more until it reconnects, so what it has now is what it has
	// at the kill.
	at, err := waitFollowed(tab, "the browser to notice the kill", func(a account) bool { return a.ReadyState != 1 })
	if err != nil {
		return err
	}
	rc.KilledAt, rc.BrowserLastEventID = at.Last, at.LastEventID

	second, err := serve(u.Host)
	if err != nil {
		return fmt.Errorf("restart on %s: %w", u.Host, err)
	}
	defer func() {
		// A failed graceful stop is the server's to report on stderr; the
		// check has what it came for.
		_ = second.Stop(10 * time.Second)
	}()
	restarted := time.Now()
	end, err := waitFollowed(tab, "events past the kill", func(a account) bool {
		if a.Last > rc.KilledAt && rc.ResumeS == 0 {
			rc.ResumeS = time.Since(restarted).Seconds()
		}
		return a.Last >= rc.KilledAt+resumeAfter || a.ReadyState == 2
	})
	if err != nil {
		return err
	}
	rc.Reconnects, rc.ErrorEvents = end.Opens-1, end.Errors
	rc.Last, rc.Received, rc.Duplicates, rc.OutOfOrder, rc.Missing, rc.Gaps = end.Last, end.Received, end.Duplicates, end.OutOfOrder, end.Missing, end.Gaps
	if end.ReadyState == 2 {
		return fmt.Errorf("the EventSource gave up (closed) after the restart, at event %d: the restarted server refused its reconnection", end.Last)
	}
	rc.ServerLastEventIDs, err = serverLastEventIDs(bctx, second.URL)
	return err
}

// waitFollowed samples the page's followed EventSource until done says so,
// for at most resumeWait.
func waitFollowed(tab context.Context, what string, done func(account) bool) (account, error) {
	deadline := time.Now().Add(resumeWait)
	for {
		a, err := call[account](tab, actionTimeout, "followed", 0)
		if err != nil {
			return a, err
		}
		if done(a) {
			return a, nil
		}
		if time.Now().After(deadline) {
			return a, fmt.Errorf("waited %v for %s: at event %d, ready state %d, %d errors", resumeWait, what, a.Last, a.ReadyState, a.Errors)
		}
		select {
		case <-tab.Done():
			return a, tab.Err()
		case <-time.After(resumePoll):
		}
	}
}

// serverLastEventIDs reads the Last-Event-ID headers the server at base
// recorded.
func serverLastEventIDs(ctx context.Context, base string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+LastEventIDsPath, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true // leave no idle connection (and its goroutines) behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", LastEventIDsPath, resp.Status, strings.TrimSpace(string(body)))
	}
	var v lastEventIDs
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("GET %s: %w", LastEventIDsPath, err)
	}
	return v.IDs, nil
}
