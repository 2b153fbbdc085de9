package report

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
		{formatBytes(0), "0 B"},
		{formatBytes(64), "64 B"},
		{formatBytes(1000), "1000 B"},
		{formatBytes(1023), "1023 B"},
		{formatBytes(1024), "1 KiB"},
		{formatBytes(8294.4), "8.1 KiB"},
		{formatBytes(16384), "16 KiB"},
		{formatBytes(1023.9 * 1024), "1 MiB"},
		{formatBytes(150.5), "151 B"},
		{FormatSI(812), "812"},
		{FormatSI(9980), "9.98k"},
		{FormatSI(999_999), "1M"},
		{FormatSI(0.5), "0.5"},
		{formatCount(0), "0"},
		{formatCount(999), "999"},
		{formatCount(1000), "1,000"},
		{formatCount(1234567), "1,234,567"},
		{FormatRatio(1.35, 1), "1.35×"},
		{FormatRatio(1, 0), "–"},
		{FormatRatio(math.NaN(), 1), "–"},
		{formatPercent(0.425), "42.5%"},
		{formatRate(10), "10/s"},
		{formatRate(0.5), "0.5/s"},
		{FormatInterval(0.1), "100ms"},
		{sig3(0.012345), "0.0123"},
		{sig3(-2.5), "-2.5"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
