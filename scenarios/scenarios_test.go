package scenarios

import (
	"slices"
	"testing"
	"time"
)

func TestCasesCrossEveryListAndInterleaveRepetitions(t *testing.T) {
	s := Scenario{
		Name: "x", Transports: []string{Poll, SSE}, Clients: []int{1, 2},
		PollIntervals: []time.Duration{time.Second, 2 * time.Second}, Repetitions: 2,
	}.WithDefaults()
	cs := s.Cases()
	// per repetition: 2 client counts × (poll×2 intervals + sse) = 6
	if len(cs) != 12 {
		t.Fatalf("%d cases, want 12", len(cs))
	}
	if cs[0].Repetition != 1 || cs[6].Repetition != 2 || cs[5].Repetition != 1 {
		t.Fatalf("repetitions not interleaved: %v", cs)
	}
	if cs[0].Transport != Poll || cs[0].PollInterval != time.Second || cs[2].Transport != SSE || cs[2].PollInterval != 0 {
		t.Fatalf("cases %v", cs[:3])
	}
	if cs[0].Step() == cs[1].Step() || cs[0].Step() == cs[6].Step() {
		t.Fatal("distinct ladders share a step key")
	}
}

func TestMatricesAreWellFormed(t *testing.T) {
	for name := range Matrices {
		m, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, s := range m {
			if s.Name == "" || s.Kind == "" || s.Description == "" || seen[s.Name] {
				t.Errorf("%s: scenario %+v lacks a unique name, kind or description", name, s)
			}
			seen[s.Name] = true
			if s.Kind == Saturation && (s.P99Bound <= 0 || !slices.IsSorted(s.Rates)) {
				t.Errorf("%s/%s: saturation needs a bound and increasing rates", name, s.Name)
			}
			for _, tr := range s.Transports {
				if !slices.Contains(All, tr) && !slices.Contains(Variants, tr) {
					t.Errorf("%s/%s: unknown transport %q", name, s.Name, tr)
				}
			}
		}
	}
	if _, err := Lookup("nope"); err == nil {
		t.Fatal("unknown matrix accepted")
	}
	m, _ := Lookup("default")
	if _, err := m.Select([]string{"fanout", "nope"}); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}
