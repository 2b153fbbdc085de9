package scenarios

import (
	"slices"
	"testing"
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
	if n := len(m.Cases()); n != 16 {
		t.Errorf("%d cases, want 4 steps × 4 transports", n)
	}
}
