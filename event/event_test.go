package event

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAppendJSONIsValidAndCanonical(t *testing.T) {
	// Times in whole microseconds, the encoding's resolution.
	for _, e := range []Event{
		New(1, 1700000000000000000, 16),
		{Seq: 42, At: -5000, Type: "odd\"type", Data: "line1\nline2 <&> ü"},
		{Seq: 1<<64 - 1, At: (1<<63 - 1) / 1000 * 1000, Type: "", Data: ""},
	} {
		b := e.AppendJSON(nil)
		if !json.Valid(b) {
			t.Fatalf("%s: not JSON", b)
		}
		var got Event
		if err := Decode(b, &got); err != nil || got != e {
			t.Fatalf("round trip: got %+v (%v) want %+v", got, err, e)
		}
		h, err := DecodeHeader(b)
		if err != nil || h.Seq != e.Seq || h.At != e.At {
			t.Fatalf("DecodeHeader(%s) = %+v, %v", b, h, err)
		}
	}
	if got, want := string(New(3, 7999, 4).AppendJSON(nil)), `{"seq":3,"at_us":7,"type":"quote","data":"defg"}`; got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
}

func TestDecodeHeaderFallbackAndErrors(t *testing.T) {
	h, err := DecodeHeader([]byte(`{"type":"x","at":9,"seq":5,"data":"y"}`))
	if err != nil || h != (Header{Seq: 5, At: 9}) {
		t.Fatalf("reordered fields: %+v %v", h, err)
	}
	for _, bad := range []string{``, `{`, `{"seq":0,"at":1}`, `{"seq":-1,"at":1}`, `{"at":1}`, `nonsense`, `{"seq":99999999999999999999,"at":1}`} {
		if _, err := DecodeHeader([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHeader(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestGap(t *testing.T) {
	g := Gap{From: 3, To: 10}
	b := g.AppendJSON(nil)
	if string(b) != `{"gap":{"from":3,"to":10}}` {
		t.Fatalf("gap encoding %s", b)
	}
	got, ok, err := DecodeGap(b)
	if !ok || err != nil || got != g || got.Missed() != 8 {
		t.Fatalf("DecodeGap = %+v %v %v", got, ok, err)
	}
	if _, ok, _ := DecodeGap(New(1, 1, 1).AppendJSON(nil)); ok {
		t.Fatal("an event decoded as a gap")
	}
	if _, ok, err := DecodeGap([]byte(`{"gap":{"from":5,"to":2}}`)); !ok || err == nil {
		t.Fatal("inverted gap accepted")
	}
}

func TestPayloadDeterministic(t *testing.T) {
	if Payload(7, 100) != Payload(7, 100) || Payload(7, 10) == Payload(8, 10) || len(Payload(1, 16384)) != 16384 {
		t.Fatal("payload is not a deterministic function of (seq, size)")
	}
}

func BenchmarkDecodeHeader(b *testing.B) {
	msg := New(123456, 1700000000123456789, 1024).AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeader(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeHeaderReadsMicrosAndNanos(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want Header
	}{
		{`{"seq":5,"at_us":1764800000123456,"type":"x","data":"y"}`, Header{Seq: 5, At: 1764800000123456000}},
		{`{"seq":5,"at":1764800000123456789,"type":"x","data":"y"}`, Header{Seq: 5, At: 1764800000123456789}},
		{`{"type":"x","at_us":7,"seq":5,"data":"y"}`, Header{Seq: 5, At: 7000}},
		{`{"seq":5,"at":1,"at_us":2}`, Header{Seq: 5, At: 2000}},
	} {
		h, err := DecodeHeader([]byte(tc.msg))
		if err != nil || h != tc.want {
			t.Errorf("DecodeHeader(%s) = %+v, %v; want %+v", tc.msg, h, err, tc.want)
		}
	}
	if _, err := DecodeHeader([]byte(`{"seq":5,"at_us":9223372036854775807}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("an at_us that overflows ns decoded: %v", err)
	}
}
