package results_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// Failures by kind are in results.json as "errors", absent when there were
// none, so files written before they existed load as runs without any.
func TestRunErrorsInJSON(t *testing.T) {
	b, err := json.Marshal(results.Run{Transport: "sse", Errors: results.Errors{HeaderTooLarge: 2, Closed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"errors":{"header_too_large":2,"closed":1}`) {
		t.Fatalf("run encodes as %s", b)
	}
	if b, err = json.Marshal(results.Run{Transport: "sse"}); err != nil || strings.Contains(string(b), `"errors"`) {
		t.Fatalf("a run without failures encodes as %s (%v)", b, err)
	}
	var old results.Run
	if err := json.Unmarshal([]byte(`{"transport":"ws","lost":0,"slow_disconnects":4}`), &old); err != nil || old.Errors != (results.Errors{}) || old.SlowDisconnects != 4 {
		t.Fatalf("an old run loads as %+v (%v)", old, err)
	}
	if got := (results.Errors{Timeout: 1200, Status: 3}).String(); got != "3 status, 1200 timeout" {
		t.Fatalf("String() = %q", got)
	}
}
