package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"golang.org/x/perf/benchmath"

	"github.com/pushbench/pushbench/results"
)

// Every comparison the report states (the verdict's, the floor table's,
// compare's) says how sure it is, by one of two tests, each stated where it
// is used (docs/verdict.md has the reasoning):
//
//   - over repetitions, the Mann-Whitney U test benchstat uses
//     (benchmath.AssumeNothing) at Alpha; with too few repetitions for the
//     test ever to reach Alpha, the comparison says so instead of picking;
//   - for a figure measured once by design (a ladder's break point, memory
//     per idle connection, a recovery time, the browser's and the proxy's
//     runs), against the noise the same report shows: the median relative
//     spread of that figure over the configurations it repeated.

// Alpha is the significance level of every U test: benchstat's default.
const Alpha = 0.05

// judgement is what a test concluded about a difference.
type judgement int

const (
	// differs: significant (p ≤ Alpha), or beyond the report's noise.
	differs judgement = iota + 1
	// same: no measurable difference (p > Alpha, or within the noise).
	same
	// tooFew: too few repetitions for the U test ever to reach Alpha.
	tooFew
	// untested: a figure measured once, in a report that repeated no
	// configuration, so has no noise to compare with.
	untested
)

// significance is how a difference between two sets of figures was judged.
type significance struct {
	judgement
	// byNoise is set when the figures were judged against noise rather
	// than by the U test.
	byNoise bool
	// p is the U test's p-value (when !byNoise and it ran).
	p float64
	// n1 and n2 are how many figures each side had.
	n1, n2 int
	// noise is what the difference was judged against (when byNoise);
	// margin the relative difference judged.
	noise  noise
	margin float64
}

// noise is the run-to-run spread a report shows for one figure: the median,
// over the configurations it ran twice or more, of (max − min) / median.
type noise struct {
	rel float64
	// n is how many repeated configurations it was measured over; 0: none.
	n int
}

// noiseOf measures the noise of value over the groups with two or more
// runs; groups where the figure was not recorded (a zero median) are left
// out.
func noiseOf(groups []group, value func(*results.Run) float64) noise {
	var rels []float64
	for i := range groups {
		g := &groups[i]
		if len(g.Runs) < 2 {
			continue
		}
		sp := spreadOf(runValues(g.Runs, value))
		if sp.Median <= 0 {
			continue
		}
		rels = append(rels, (sp.Max-sp.Min)/sp.Median)
	}
	if len(rels) == 0 {
		return noise{}
	}
	return noise{rel: spreadOf(rels).Median, n: len(rels)}
}

// runValues is value of every run.
func runValues(runs []results.Run, value func(*results.Run) float64) []float64 {
	out := make([]float64, len(runs))
	for i := range runs {
		out[i] = value(&runs[i])
	}
	return out
}

// minP is the smallest two-sided p-value the U test can give with n1
// figures against n2: 2 / C(n1+n2, n1), reached when the two sets do not
// overlap at all. Below Alpha only from 4 against 4 (0.029); 3 against 3
// gives at best 0.1, 2 against 2 one third.
func minP(n1, n2 int) float64 {
	if n1 < 1 || n2 < 1 {
		return 1
	}
	c := 1.0 // C(n1+n2, n1), as a float: exact for the sizes a report has
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// uTest compares two sets of repetitions with the Mann-Whitney U test, or
// says they are too few for it.
func uTest(a, b []float64) significance {
	s := significance{n1: len(a), n2: len(b)}
	if minP(len(a), len(b)) > Alpha {
		s.judgement = tooFew
		return s
	}
	t := benchmath.DefaultThresholds
	t.CompareAlpha = Alpha
	// NewSample sorts its values in place: give it copies.
	c := benchmath.AssumeNothing.Compare(benchmath.NewSample(slices.Clone(a), &t), benchmath.NewSample(slices.Clone(b), &t))
	s.p = c.P
	s.judgement = same
	if c.P <= Alpha {
		s.judgement = differs
	}
	return s
}

// noiseTest judges two figures measured once against the report's noise
// for that figure: a relative difference beyond it differs.
func noiseTest(a, b float64, nz noise) significance {
	s := significance{byNoise: true, noise: nz, n1: 1, n2: 1, margin: relDiff(a, b)}
	switch {
	case nz.n == 0:
		s.judgement = untested
	case s.margin > nz.rel:
		s.judgement = differs
	default:
		s.judgement = same
	}
	return s
}

// relDiff is how much larger the larger of a and b is than the smaller,
// as a fraction of the smaller: 0.12 for 1.12×. Two zeros do not differ;
// zero against anything else differs infinitely.
func relDiff(a, b float64) float64 {
	lo, hi := math.Min(math.Abs(a), math.Abs(b)), math.Max(math.Abs(a), math.Abs(b))
	switch {
	case hi == 0:
		return 0
	case lo == 0:
		return math.Inf(1)
	}
	return hi/lo - 1
}

// judge compares two sets of figures: by the U test when it can reach
// Alpha; otherwise, for a figure measured once by design (once is true),
// medians against the report's noise, and for a figure that should have
// been repeated, too few to tell.
func judge(a, b []float64, once bool, nz noise) significance {
	if minP(len(a), len(b)) <= Alpha || !once {
		return uTest(a, b)
	}
	s := noiseTest(spreadOf(a).Median, spreadOf(b).Median, nz)
	s.n1, s.n2 = len(a), len(b)
	return s
}

// formatP renders a p-value with two significant digits: "0.029", "0.34".
func formatP(p float64) string { return strconv.FormatFloat(p, 'g', 2, 64) }

// runs renders "2 runs against 2", "1 run each".
func (s significance) runs() string {
	if s.n1 == s.n2 {
		if s.n1 == 1 {
			return "1 run each"
		}
		return fmt.Sprintf("%d runs each", s.n1)
	}
	return fmt.Sprintf("%d runs against %d", s.n1, s.n2)
}

// short renders the judgement for a table cell: "p=0.029", "~ p=0.34",
// "? 2+2 runs", "> noise 15%", "~ noise 15%", "? no noise".
func (s significance) short() string {
	switch {
	case s.judgement == tooFew:
		return fmt.Sprintf("? %d+%d runs", s.n1, s.n2)
	case s.judgement == untested:
		return "? no noise"
	case s.byNoise && s.judgement == differs:
		return "> noise " + formatPercent(s.noise.rel)
	case s.byNoise:
		return "~ noise " + formatPercent(s.noise.rel)
	case s.judgement == differs:
		return "p=" + formatP(s.p)
	default:
		return "~ p=" + formatP(s.p)
	}
}

// long renders the judgement as a clause of a sentence, naming the test
// and what the figure is ("p99"): "significant: Mann-Whitney p=0.029 over
// 4 runs each".
func (s significance) long(figure string) string {
	switch {
	case s.judgement == tooFew:
		return fmt.Sprintf("%s; the U test needs 4 runs against 4 to reach p ≤ %s", s.runs(), formatP(Alpha))
	case s.judgement == untested:
		return fmt.Sprintf("%s, and this report repeated no configuration to measure the noise of %s against", s.runs(), figure)
	case s.byNoise:
		rel := "beyond"
		if s.judgement == same {
			rel = "within"
		}
		return fmt.Sprintf("%s, %s the run-to-run spread of %s this report shows (%s, the median over %d repeated configurations)",
			s.runs(), rel, figure, formatPercent(s.noise.rel), s.noise.n)
	case s.judgement == differs:
		return fmt.Sprintf("significant: Mann-Whitney p=%s over %s", formatP(s.p), s.runs())
	default:
		return fmt.Sprintf("Mann-Whitney p=%s over %s", formatP(s.p), s.runs())
	}
}
