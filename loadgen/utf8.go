package loadgen

import "unicode/utf8"

// DecodeUTF8 decodes b as the WHATWG Encoding Standard's UTF-8 decoder does
// in replacement mode, which is how a browser turns an event stream's bytes
// into the strings an EventSource dispatches
// (https://encoding.spec.whatwg.org/#utf-8-decoder): valid UTF-8 is returned
// unchanged, and each maximal subpart of an ill-formed sequence becomes one
// U+FFFD.
//
// A maximal subpart is the longest prefix of a well-formed sequence that is
// present: a lead byte C2–F4 and the continuation bytes that fit after it
// (after E0 only A0–BF, after ED only 80–9F, after F0 only 90–BF, after F4
// only 80–8F; otherwise 80–BF). The byte that does not fit starts over.
// Any other byte that is not ASCII (80–C1, F5–FF) is a subpart of its own.
// So "[\xF0\x9F\x98]" (an emoji cut short) is "[\uFFFD]", one replacement
// where Go's conversions make three, "\xE0\x80" is two and the surrogate
// "\xED\xA0\x80" three.
//
// It does not strip a byte order mark: the SSE parser drops the stream's
// one leading BOM itself, as the standard's decode does.
func DecodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(appendUTF8(make([]byte, 0, len(b)+8), b))
}

// appendUTF8 appends DecodeUTF8(b) to dst.
func appendUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			dst = append(dst, b[0])
			b = b[1:]
			continue
		}
		// Go's decoder accepts exactly the sequences the standard's does
		// (the same ranges of second byte after E0, ED, F0 and F4); where
		// they differ is only in how much of an invalid one to replace.
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, b[:n]...)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
			n = maximalSubpart(b)
		}
		b = b[n:]
	}
	return dst
}

// maximalSubpart returns the length of the ill-formed sequence at the start
// of b that the standard's decoder replaces with one U+FFFD: b[0] and the
// continuation bytes after it that fit, stopping at the first that does not
// or at the end of b. b must start with a sequence utf8.DecodeRune rejects.
func maximalSubpart(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF) // the standard's lower and upper boundary
	var need int                     // its bytes needed
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			return n
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
