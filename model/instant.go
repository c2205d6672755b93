package model

import "time"

// Instant is a wall-clock instant, in nanoseconds since the Unix epoch; 0
// is none (the zero time.Time). It is what a connection and a row keep of
// their times: 8 bytes where a time.Time takes 24, which at 10^5
// connections, with four times a connection and three a row (in each of
// the interface's two row arrays), is 16 MB. Only the wall clock is kept:
// times the tracker is given (PollInput.Time) are compared by it anyway
// once they are stored.
type Instant int64

// InstantOf returns the instant of t (0 for the zero time).
func InstantOf(t time.Time) Instant {
	if t.IsZero() {
		return 0
	}
	return Instant(t.UnixNano())
}

// Time returns the instant as a time.Time in the local zone (the zero
// time for none).
func (i Instant) Time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i))
}

// IsZero reports whether the instant is none.
func (i Instant) IsZero() bool { return i == 0 }
