package results

// Capacity is one open-loop attack on the polling server's /poll endpoint at a
// constant request rate, made with vegeta: what the server can answer at all,
// independent of how many clients poll.
type Capacity struct {
	Scenario string `json:"scenario,omitempty"`
	// Target names what was asked: "empty" (nothing new: 204) or "batch-N"
	// (N events of Payload bytes each: 200).
	Target  string `json:"target"`
	Payload int    `json:"payload"`
	// Rate is the offered requests/s; DurationS the attack's length.
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"`
	Requests  uint64  `json:"requests"`
	// Throughput is successful requests/s; Success their share.
	Throughput float64 `json:"throughput"`
	Success    float64 `json:"success"`
	// LatencyNS is request latency from vegeta's send to the response's end.
	LatencyNS   Latency        `json:"latency_ns"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors,omitempty"`
	Server      Process        `json:"server"`
}
