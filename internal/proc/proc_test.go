package proc

import "testing"

func TestSelfReadsRealFigures(t *testing.T) {
	// Burn a little CPU and hold some heap so the figures cannot be zero.
	buf := make([][]byte, 0, 64)
	for i := range 64 {
		buf = append(buf, make([]byte, 64<<10))
		for j := range buf[i] {
			buf[i][j] = byte(i + j)
		}
	}
	s := Self()
	if s.CPUSeconds <= 0 || s.RSSBytes < 4<<20 || s.HeapBytes < 4<<20 || s.Goroutines < 1 || s.OpenFiles < 3 {
		t.Fatalf("implausible stats %+v", s)
	}
	_ = buf[63][0]
}
