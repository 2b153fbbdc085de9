package loadgen

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// specUTF8 decodes b by the Encoding Standard's UTF-8 decoder, step by step
// as https://encoding.spec.whatwg.org/#utf-8-decoder writes it, run in
// replacement error mode: the reference DecodeUTF8 is checked against.
func specUTF8(b []byte) string {
	var (
		out                    []rune
		codePoint              rune
		bytesSeen, bytesNeeded int
		lower, upper           = byte(0x80), byte(0xBF)
	)
	const (
		resultContinue = iota
		resultError
		resultCodePoint
		resultFinished
	)
	// handler is the decoder's handler, given a byte or, with end set,
	// end-of-queue. It returns what the standard returns, and whether the
	// byte is to be prepended to the queue again (the "restore" step).
	handler := func(c byte, end bool) (result int, cp rune, restore bool) {
		// 1. If byte is end-of-queue and UTF-8 bytes needed is not 0, set
		// UTF-8 bytes needed to 0 and return error.
		if end && bytesNeeded != 0 {
			bytesNeeded = 0
			return resultError, 0, false
		}
		// 2. If byte is end-of-queue, return finished.
		if end {
			return resultFinished, 0, false
		}
		// 3. If UTF-8 bytes needed is 0, based on byte:
		if bytesNeeded == 0 {
			switch {
			case c <= 0x7F:
				return resultCodePoint, rune(c), false
			case c >= 0xC2 && c <= 0xDF:
				bytesNeeded = 1
				codePoint = rune(c & 0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				bytesNeeded = 2
				codePoint = rune(c & 0xF)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				bytesNeeded = 3
				codePoint = rune(c & 0x7)
			default:
				return resultError, 0, false
			}
			return resultContinue, 0, false
		}
		// 4. If byte is not in the range UTF-8 lower boundary to UTF-8
		// upper boundary, inclusive: set code point, bytes needed and bytes
		// seen to 0, the boundaries to 0x80 and 0xBF, restore byte to the
		// queue and return error.
		if c < lower || c > upper {
			codePoint, bytesNeeded, bytesSeen = 0, 0, 0
			lower, upper = 0x80, 0xBF
			return resultError, 0, true
		}
		// 5. Set the boundaries to 0x80 and 0xBF.
		lower, upper = 0x80, 0xBF
		// 6. Set code point to (code point << 6) | (byte & 0x3F).
		codePoint = codePoint<<6 | rune(c&0x3F)
		// 7. Increase bytes seen by one.
		bytesSeen++
		// 8. If bytes seen is not bytes needed, return continue.
		if bytesSeen != bytesNeeded {
			return resultContinue, 0, false
		}
		// 9. Let cp be code point; 10. reset code point, bytes needed and
		// bytes seen to 0; 11. return a code point whose value is cp.
		cp = codePoint
		codePoint, bytesNeeded, bytesSeen = 0, 0, 0
		return resultCodePoint, cp, false
	}
	// "Run": read from the queue until the handler returns finished; an
	// error in replacement mode emits U+FFFD.
	for i := 0; ; {
		end := i == len(b)
		var c byte
		if !end {
			c = b[i]
			i++
		}
		result, cp, restore := handler(c, end)
		if restore {
			i--
		}
		switch result {
		case resultFinished:
			return string(out)
		case resultError:
			out = append(out, utf8.RuneError)
		case resultCodePoint:
			out = append(out, cp)
		}
	}
}

var utf8Cases = []struct {
	name, in, want string
}{
	{"empty", "", ""},
	{"ascii", "data: {\"seq\":1}", "data: {\"seq\":1}"},
	{"valid multibyte", "é € 😀 \uFFFD \U0010FFFF", "é € 😀 \uFFFD \U0010FFFF"},
	{"truncated 4-byte sequence", "[\xF0\x9F\x98]", "[\uFFFD]"},
	{"truncated at the end", "a\xF0\x9F\x98", "a\uFFFD"},
	{"truncated 3-byte then ascii", "\xE2\x82a", "\uFFFDa"},
	{"truncated then a new lead", "\xE2\x82\xE2\x82\xAC", "\uFFFD€"},
	{"overlong E0 80", "\xE0\x80", "\uFFFD\uFFFD"},
	{"overlong E0 80 80", "\xE0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
	{"overlong C0 80 (NUL)", "\xC0\x80", "\uFFFD\uFFFD"},
	{"overlong C1 BF", "\xC1\xBF", "\uFFFD\uFFFD"},
	{"overlong F0 80 80 80", "\xF0\x80\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
	{"surrogate ED A0 80", "\xED\xA0\x80", "\uFFFD\uFFFD\uFFFD"},
	{"surrogate pair", "\xED\xA0\xBD\xED\xB8\x80", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
	{"ED 9F BF is valid", "\xED\x9F\xBF", "\uD7FF"},
	{"beyond U+10FFFF", "\xF4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
	{"F4 8F truncated", "\xF4\x8F\xBF", "\uFFFD"},
	{"lone continuation byte", "a\x80b", "a\uFFFDb"},
	{"run of continuation bytes", "\x80\xBF\x80", "\uFFFD\uFFFD\uFFFD"},
	{"bytes never valid", "\xF5\xF8\xFC\xFE\xFF", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
	{"lead then lead", "\xC3\xC3\xA9", "\uFFFDé"},
	{"5-byte form", "\xF8\x88\x80\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
	{"BOM kept", "\xEF\xBB\xBFx", "\uFEFFx"},
}

func TestDecodeUTF8(t *testing.T) {
	for _, tc := range utf8Cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := specUTF8([]byte(tc.in)); got != tc.want {
				t.Errorf("spec decoder: %q → %q, want %q", tc.in, got, tc.want)
			}
			if got := DecodeUTF8([]byte(tc.in)); got != tc.want {
				t.Errorf("DecodeUTF8(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Decoding commutes with splitting at ASCII bytes, which is what lets the
// SSE parser split lines and fields on bytes and decode only the values.
func TestDecodeUTF8CommutesWithASCIISplits(t *testing.T) {
	in := "data: [\xF0\x9F\x98]\nid:\xE0\x80\xED\xA0\x80\r\nevent:\xF0\x9F\n:\xC3\n\n"
	var parts []string
	for _, line := range strings.FieldsFunc(in, func(r rune) bool { return r == '\n' || r == '\r' || r == ':' }) {
		parts = append(parts, DecodeUTF8([]byte(line)))
	}
	var whole []string
	for _, line := range strings.FieldsFunc(DecodeUTF8([]byte(in)), func(r rune) bool { return r == '\n' || r == '\r' || r == ':' }) {
		whole = append(whole, line)
	}
	if strings.Join(parts, "|") != strings.Join(whole, "|") {
		t.Fatalf("split then decoded %q, decoded then split %q", parts, whole)
	}
}

func TestDecodeUTF8ValidAllocatesOnlyTheString(t *testing.T) {
	b := []byte("id: 42 — ünïcödé")
	if n := testing.AllocsPerRun(100, func() { _ = DecodeUTF8(b) }); n > 1 {
		t.Fatalf("%v allocations for valid text, want at most the string's", n)
	}
}

// FuzzDecodeUTF8 checks the fast decoder against the standard's algorithm
// written out step by step. The table's inputs are its seed corpus, so
// plain go test runs them.
func FuzzDecodeUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("\xF0\x9F\x98\x80\xF0\x9F\x98\xF0\x9F\x80\x80"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, want := DecodeUTF8(in), specUTF8(in)
		if got != want {
			t.Fatalf("DecodeUTF8(%q) = %q, the standard's decoder gives %q", in, got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("DecodeUTF8(%q) = %q is not valid UTF-8", in, got)
		}
		if utf8.Valid(in) && got != string(in) {
			t.Fatalf("valid input %q changed to %q", in, got)
		}
	})
}
