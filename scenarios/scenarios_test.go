package scenarios

import (
	"slices"
	"testing"
	"time"

	"github.com/pushbench/pushbench/contract"
)

func TestCasesCrossEveryListAndInterleaveRepetitions(t *testing.T) {
	s := Scenario{
		Name: "x", Transports: []contract.Transport{Poll, SSE}, Clients: []int{1, 2},
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
				if !slices.Contains(contract.All, tr) {
					t.Errorf("%s/%s: unknown transport %q", name, s.Name, tr)
				}
			}
			if (s.Kind == Fault) != (s.Fault != nil) {
				t.Errorf("%s/%s: a fault spec belongs to Fault scenarios only", name, s.Name)
			}
			if s.Fault != nil {
				for _, f := range s.Fault.Faults {
					if !slices.Contains(contract.Faults, f) {
						t.Errorf("%s/%s: unknown fault %q", name, s.Name, f)
					}
				}
				for _, j := range s.Fault.Jitters {
					if j != FullJitter && j != NoJitter {
						t.Errorf("%s/%s: unknown jitter policy %q", name, s.Name, j)
					}
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

func TestFaultCasesCrossFaultsAndJitters(t *testing.T) {
	s := Scenario{
		Name: "f", Kind: Fault, Transports: []contract.Transport{SSE, WS},
		Fault: &FaultSpec{Faults: []contract.Fault{Crash, Storm}, Jitters: []contract.Jitter{FullJitter, NoJitter}},
	}.WithDefaults()
	cs := s.Cases()
	// 2 faults × 2 jitters × 2 transports, one fault after the other.
	if len(cs) != 8 {
		t.Fatalf("%d cases, want 8: %v", len(cs), cs)
	}
	for i, c := range cs {
		if want := []contract.Fault{Crash, Storm}[i/4]; c.Fault != want {
			t.Errorf("case %d is %s, want %s: every transport meets one fault before the next", i, c, want)
		}
	}
	if f := s.Fault; f.Before != 2*time.Second || f.ReadTimeout != 5*time.Second || f.Length != 8*time.Second || s.Heartbeat != time.Second {
		t.Errorf("defaults not filled: %+v, heartbeat %v", *f, s.Heartbeat)
	}
	withPoll := Scenario{
		Name: "p", Kind: Fault, Transports: []contract.Transport{Poll, WS},
		Fault: &FaultSpec{Faults: []contract.Fault{Storm}, Jitters: []contract.Jitter{FullJitter, NoJitter}},
	}.WithDefaults()
	var names []string
	for _, c := range withPoll.Cases() {
		names = append(names, string(c.Transport)+"/"+string(c.Jitter))
	}
	if want := []string{"poll/full", "ws/full", "ws/none"}; !slices.Equal(names, want) {
		t.Errorf("storm cases %q, want %q: polling has no jitter policy to vary", names, want)
	}
	for fault, want := range map[contract.Fault]time.Duration{Crash: 5 * time.Second, SlowClose: 7 * time.Second, Partition: 12 * time.Second, Storm: 4 * time.Second} {
		if got := s.Fault.Span(fault); got != want {
			t.Errorf("Span(%s) = %v, want %v", fault, got, want)
		}
	}
	if got := (Scenario{Name: "g", Kind: Fault}).WithDefaults(); !slices.Equal(got.Fault.Faults, contract.Faults) || !slices.Equal(got.Fault.Jitters, []contract.Jitter{FullJitter}) {
		t.Errorf("a Fault scenario without a spec gets %+v, want every fault with full jitter", *got.Fault)
	}
	if c := cs[5]; c.String() != "f ws c=100 r=10 p=64 storm jitter=none" && c.String() != "f sse c=100 r=10 p=64 storm jitter=none" {
		t.Errorf("case name %q does not say its fault and jitter", c)
	}
}
