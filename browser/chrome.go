package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// execNames are the programs FindChromium looks for, in order: Debian's
// chromium first.
var execNames = []string{"chromium", "chromium-browser"}

// FindChromium returns the path of the browser the scenario runs, or
// ErrNoBrowser.
func FindChromium() (string, error) {
	for _, name := range execNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// switchFlag is one browser command-line switch; an empty value is a bare switch.
type switchFlag struct{ name, value string }

func (f switchFlag) String() string {
	if f.value == "" {
		return "--" + f.name
	}
	return "--" + f.name + "=" + f.value
}

// browserFlags are the switches the browser runs with. chromedp adds a fresh
// temporary --user-data-dir, removed when the browser exits (Chromium honours
// the SPKI list only with one), and --remote-debugging-pipe: the DevTools
// protocol runs over a pipe, so the browser listens on no port of its own.
func browserFlags(spki string) []switchFlag {
	return []switchFlag{
		{"headless", ""},
		{"no-sandbox", ""},
		{"disable-gpu", ""},
		{"no-first-run", ""},
		{"disable-background-networking", ""},
		{"disable-component-update", ""},
		{"disable-sync", ""},
		// /dev/shm is 64 MB in a default container, and Chromium crashes
		// when it fills; the temporary directory costs nothing here.
		{"disable-dev-shm-usage", ""},
		// Accept the one certificate generated for the run, and no other
		// that would fail verification.
		{"ignore-certificate-errors-spki-list", spki},
	}
}

// startChrome starts the browser at execPath with flags. It returns the
// context of the browser's first tab, which new tabs derive from, the
// browser's product string, and stop, which ends the browser and waits for
// it and its temporary directory to be gone.
func startChrome(ctx context.Context, execPath string, flags []switchFlag) (bctx context.Context, product string, stop func(), err error) {
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(execPath)}
	for _, f := range flags {
		if f.value == "" {
			opts = append(opts, chromedp.Flag(f.name, true))
		} else {
			opts = append(opts, chromedp.Flag(f.name, f.value))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	stop = func() {
		cancelBrowser()
		cancelAlloc() // waits for the process and removes its directory
	}
	// The first Run starts the browser and binds its life to bctx: no
	// timeout here, or the browser would die with it.
	if err := chromedp.Do(bctx); err != nil {
		stop()
		return nil, "", nil, fmt.Errorf("start %s: %w", execPath, err)
	}
	vctx, cancel := context.WithTimeout(bctx, actionTimeout)
	defer cancel()
	v, err := cdp.Call(vctx, chromedp.FromContext(bctx).Browser, browser.GetVersion, cdp.Empty{})
	if err != nil {
		stop()
		return nil, "", nil, fmt.Errorf("browser version: %w", err)
	}
	return bctx, v.Product, stop, nil
}

// actionTimeout bounds a DevTools action that should be quick: opening a
// tab, loading the page, a call that returns at once. Generous, for a loaded
// 2-core machine.
const actionTimeout = 20 * time.Second

// openTab opens a new tab on bctx's browser, in a browser context of its
// own, and loads url in it. A fresh browser context has its own cookies,
// cache and connection pool, so no check inherits another's idle
// connections. close closes the tab and disposes of its context, which
// closes every connection its page held.
func openTab(bctx context.Context, url string) (tab context.Context, close func(), err error) {
	tab, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	// Create the tab without a timeout (its life is tab's), then load the
	// page under one.
	if err := chromedp.Do(tab); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("open tab: %w", err)
	}
	nctx, ncancel := context.WithTimeout(tab, actionTimeout)
	defer ncancel()
	if err := chromedp.Do(nctx, chromedp.Navigate(url)); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("load %s: %w", url, err)
	}
	return tab, cancel, nil
}

// call runs the page's pushbench.fn with args encoded as JSON, waits up to
// timeout for the promise it returns, if any, and decodes its result into T.
func call[T any](tab context.Context, timeout time.Duration, fn string, args ...any) (T, error) {
	expr := "pushbench." + fn + "("
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			var zero T
			return zero, err
		}
		if i > 0 {
			expr += ","
		}
		expr += string(b)
	}
	expr += ")"
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return v, fmt.Errorf("pushbench.%s: %w", fn, err)
	}
	return v, nil
}
