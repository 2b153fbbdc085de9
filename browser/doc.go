// Package browser runs pushbench's stream in a real browser: Debian's
// chromium, headless, driven from Go over the DevTools protocol with
// chromedp. A page pushbench serves on the stream's own origin consumes the
// stream with the browser's EventSource, WebSocket and a fetch polling loop,
// and the scenario checks, in the browser:
//
//   - delivery: every event exactly once and in order on each transport,
//     and the browser-side latency from each event's scheduled instant;
//   - resumption: after the server is killed and restarted, the
//     EventSource reconnects by itself, sends Last-Event-ID (the server
//     records the header it received) and resumes with nothing lost;
//   - the per-host connection limit: over HTTP/1.1, EventSources beyond the
//     browser's per-host limit stall; over HTTP/2 (TLS with a certificate
//     made at run time) they all stream.
//
// Handler serves the page; Run runs the scenario and returns an Outcome,
// which is saved as browser.json and rendered as the report's "Real
// browser" section. Everything listens on loopback only.
package browser
