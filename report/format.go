package report

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/results"
)

// Formatting helpers shared by the tables, the report and the plots. Every
// figure is shown with three significant digits at most: the histograms keep
// three, and more digits than the measurement holds would be noise that reads
// like precision. Those sections written in other packages use (the real
// browser's, the reverse proxy's) are exported, so that a section WriteDir
// embeds writes its figures as the rest of report.md does.

// FormatNS renders a duration in nanoseconds in the unit that keeps it
// between 1 and 1000: "950ns", "812µs", "3.2ms", "1.25s", "2.5min".
func FormatNS(ns float64) string {
	switch a := math.Abs(round3(ns)); {
	case a == 0:
		return "0"
	case a < 1e3:
		return sig3(ns) + "ns"
	case a < 1e6:
		return sig3(ns/1e3) + "µs"
	case a < 1e9:
		return sig3(ns/1e6) + "ms"
	case a < 60e9:
		return sig3(ns/1e9) + "s"
	default:
		return sig3(ns/60e9) + "min"
	}
}

// FormatDuration is FormatNS for a time.Duration.
func FormatDuration(d time.Duration) string { return FormatNS(float64(d)) }

// formatBytes renders a byte count in IEC units: "96 B", "1 KiB", "8.1
// KiB", "1.5 GiB". Whole byte counts below 1 KiB are exact, so a 1000-byte
// payload does not read as 1 KiB, nor 1023 as "1020 B".
func formatBytes(b float64) string {
	const unit = 1024
	if math.Abs(b) < unit {
		if b == math.Trunc(b) {
			return strconv.FormatFloat(b, 'f', 0, 64) + " B"
		}
		return sig3(b) + " B"
	}
	// From KiB up, a unit holds values below 1000, so three significant
	// digits never read as four ("1020 KiB" is "0.996 MiB").
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	for i, u := range units {
		v := b / math.Pow(unit, float64(i+1))
		if math.Abs(round3(v)) < 1000 || i == len(units)-1 {
			return sig3(v) + " " + u
		}
	}
	panic("unreachable")
}

// FormatSI renders a count or rate with an SI suffix: "812", "9.98k", "1.2M".
func FormatSI(v float64) string {
	switch a := math.Abs(round3(v)); {
	case a < 1e3:
		return sig3(v)
	case a < 1e6:
		return sig3(v/1e3) + "k"
	case a < 1e9:
		return sig3(v/1e6) + "M"
	default:
		return sig3(v/1e9) + "G"
	}
}

// formatCount renders an exact count with thousands separators
// ("1,000,000"): delivery accounting must be exact, not rounded.
func formatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatRatio renders how many times a is b: "1.35×". It is "–" when b is
// zero, as there is nothing to compare with.
func FormatRatio(a, b float64) string {
	if b == 0 || math.IsNaN(a/b) || math.IsInf(a/b, 0) {
		return "–"
	}
	return sig3(a/b) + "×"
}

// formatPercent renders a share in [0, 1] as a percentage: "42.5%".
func formatPercent(share float64) string { return sig3(share*100) + "%" }

// formatRate renders an offered event rate in events/s: "10/s", "0.5/s",
// "8k/s".
func formatRate(perSec float64) string { return FormatSI(perSec) + "/s" }

// FormatInterval renders a polling interval given in seconds: "100ms", "2s".
func FormatInterval(s float64) string { return FormatNS(s * 1e9) }

// sig3 formats v with at most three significant digits and no trailing
// zeros: 812, 81.2, 8.12, 3.2, 0.0123.
func sig3(v float64) string {
	r := round3(v)
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	decimals := max(0, int(2-math.Floor(math.Log10(math.Abs(r)))))
	s := strconv.FormatFloat(r, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// round3 rounds v to three significant digits. Units are chosen after
// rounding, so 999.7µs reads "1ms", not "1000µs".
func round3(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}

// machine describes e in one line for plot captions and table titles:
// "AMD EPYC, 2 cores, 3.8 GiB".
func machine(e results.Env) string {
	var parts []string
	if e.CPU != "" {
		parts = append(parts, e.CPU)
	}
	if e.Cores > 0 {
		parts = append(parts, strconv.Itoa(e.Cores)+" cores")
	}
	if e.MemoryBytes > 0 {
		parts = append(parts, formatBytes(float64(e.MemoryBytes)))
	}
	if len(parts) == 0 {
		return "unknown machine"
	}
	return strings.Join(parts, ", ")
}
