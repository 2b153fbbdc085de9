package contract

import "testing"

func TestBase(t *testing.T) {
	for in, want := range map[Transport]Transport{
		SSEH2: SSE, SSEH2C: SSE, PollH2: Poll, PollH2C: Poll, SSE: SSE, WS: WS, TCP: TCP, LongPoll: LongPoll, "x": "x",
	} {
		if got := in.Base(); got != want {
			t.Errorf("%q.Base() = %q, want %q", in, got, want)
		}
	}
	if !PollH2C.Polls() || LongPoll.Polls() || !LongPoll.Requests() || SSE.Requests() {
		t.Error("Polls and Requests disagree with the transports' kinds")
	}
	if SSEH2.Path() != "/sse" || TCP.Path() != "" || LongPoll.Path() != "/longpoll" {
		t.Error("paths")
	}
}

func TestScheduleRoundTrip(t *testing.T) {
	s := Schedule{Rate: 2.5, Burst: 3, Payload: 0, Count: 7}
	got, err := ParseSchedule(s.Query())
	if err != nil || got != s {
		t.Fatalf("ParseSchedule(%q) = %+v, %v; want %+v", s.Query(), got, err, s)
	}
	if d, err := ParseSchedule(""); err != nil || d != (Schedule{Rate: DefaultRate, Burst: DefaultBurst, Payload: DefaultPayload}) {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
	for _, bad := range []string{"rate=0", "rate=NaN", "burst=0", "payload=-1", "payload=1048577", "count=-1", "rate=1&rate=2", "colour=red", "%zz"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
