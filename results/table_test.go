package results

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Events whose data is not an event's JSON cannot be accounted, so they
// count as lost; the table says they arrived malformed, so they do not read
// as a network loss.
func TestRunTableShowsMalformedBesideLost(t *testing.T) {
	run := Run{Transport: "sse", Clients: 1, Rate: 10, Delivery: Delivery{Expected: 5, Delivered: 2, Lost: 3, Malformed: 3}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Run{run}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "3 (3 malformed)") {
		t.Fatalf("table does not show the malformed messages beside the lost events:\n%s", buf.String())
	}
	run.Malformed = 0
	buf.Reset()
	if err := WriteTable(&buf, []Run{run}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "malformed") {
		t.Fatalf("a run without malformed messages mentions them:\n%s", buf.String())
	}
}

// Failures by kind are in results.json as "errors", absent when there were
// none, so files written before they existed load as runs without any.
func TestRunErrorsInJSON(t *testing.T) {
	b, err := json.Marshal(Run{Transport: "sse", Errors: Errors{HeaderTooLarge: 2, Closed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"errors":{"header_too_large":2,"closed":1}`) {
		t.Fatalf("run encodes as %s", b)
	}
	if b, err = json.Marshal(Run{Transport: "sse"}); err != nil || strings.Contains(string(b), `"errors"`) {
		t.Fatalf("a run without failures encodes as %s (%v)", b, err)
	}
	var old Run
	if err := json.Unmarshal([]byte(`{"transport":"ws","lost":0,"slow_disconnects":4}`), &old); err != nil || old.Errors != (Errors{}) || old.SlowDisconnects != 4 {
		t.Fatalf("an old run loads as %+v (%v)", old, err)
	}
	if got := (Errors{Timeout: 1200, Status: 3}).String(); got != "3 status, 1200 timeout" {
		t.Fatalf("String() = %q", got)
	}
}
