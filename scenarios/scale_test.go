package scenarios

import (
	"slices"
	"testing"

	"github.com/pushbench/pushbench/servers"
)

// The scale matrix climbs to what one process may hold here (20,000 open
// files, less the generator's own) and judges every step by a bound.
func TestScaleMatrix(t *testing.T) {
	m, err := Lookup("scale")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m {
		if s.Kind != Scale || s.P99Bound <= 0 || s.Idle <= 0 || !slices.IsSorted(s.Clients) {
			t.Errorf("%s: want kind scale, a bound, an idle window and increasing clients: %+v", s.Name, s)
		}
		if top := s.Clients[len(s.Clients)-1]; top < 19000 || top > 20000-64 {
			t.Errorf("%s: top step %d, want 19,000 up to the open-file limit", s.Name, top)
		}
	}
	if n := len(m[0].Cases()); n != 4*len(All) {
		t.Errorf("%d cases, want 4 steps × %d transports", n, len(All))
	}
	impls := 0
	for _, tr := range m[1].Transports {
		impls += len(servers.Impls(tr))
	}
	if n := len(m[1].Cases()); n != impls || n < 2 {
		t.Errorf("%d cases, want every one of the %d SSE and WebSocket implementations at 19,000 clients", n, impls)
	}
}
