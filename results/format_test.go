package results

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{FormatNS(0), "0"},
		{FormatNS(950), "950ns"},
		{FormatNS(812_000), "812µs"},
		{FormatNS(3_200_000), "3.2ms"},
		{FormatNS(3_214_000), "3.21ms"},
		{FormatNS(999_700), "1ms"}, // unit chosen after rounding
		{FormatNS(1.25e9), "1.25s"},
		{FormatNS(150e9), "2.5min"},
		{FormatBytes(0), "0 B"},
		{FormatBytes(64), "64 B"},
		{FormatBytes(1000), "1000 B"},
		{FormatBytes(1023), "1023 B"},
		{FormatBytes(1024), "1 KiB"},
		{FormatBytes(8294.4), "8.1 KiB"},
		{FormatBytes(16384), "16 KiB"},
		{FormatBytes(1023.9 * 1024), "1 MiB"},
		{FormatBytes(150.5), "151 B"},
		{FormatSI(812), "812"},
		{FormatSI(9980), "9.98k"},
		{FormatSI(999_999), "1M"},
		{FormatSI(0.5), "0.5"},
		{FormatCount(0), "0"},
		{FormatCount(999), "999"},
		{FormatCount(1000), "1,000"},
		{FormatCount(1234567), "1,234,567"},
		{FormatRatio(1.35, 1), "1.35×"},
		{FormatRatio(1, 0), "–"},
		{FormatRatio(math.NaN(), 1), "–"},
		{FormatPercent(0.425), "42.5%"},
		{FormatRate(10), "10/s"},
		{FormatRate(0.5), "0.5/s"},
		{FormatInterval(0.1), "100ms"},
		{sig3(0.012345), "0.0123"},
		{sig3(-2.5), "-2.5"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
