package model

// The results the rules produce: health, abort reason, prediction with its
// schedule of firings, exposure and events. No kernel function is
// modelled here.

import (
	"fmt"
	"time"
)

// Health is what tcpwatch concludes about a connection.
type Health uint8

// Health values. The zero value is HealthOK.
const (
	// HealthOK: nothing to report.
	HealthOK Health = iota
	// HealthRetransmitting: data is unacknowledged and the RTO has fired
	// at least once without an ACK since; the kernel backs off and will
	// abort when its time budget is spent.
	HealthRetransmitting
	// HealthKeepaliveProbing: an idle connection whose keepalive probes go
	// unanswered.
	HealthKeepaliveProbing
	// HealthZeroWindow: the peer advertises a zero window (it is alive but
	// not reading); the persist timer probes it.
	HealthZeroWindow
	// HealthCloseWait: the peer closed its side long ago and the local
	// application has not closed the socket.
	HealthCloseWait
	// HealthUnguarded: an idle established connection without keepalive:
	// if the peer host died, this side would never notice. Informational.
	HealthUnguarded
	// HealthSynSent: a connection attempt whose SYN is being retransmitted.
	HealthSynSent
	// HealthOrphanRetrying: closed by the application (no owner any more)
	// with data or FIN unacknowledged, retried under tcp_orphan_retries.
	HealthOrphanRetrying
	healthCount
)

var healthNames = [...]string{"ok", "retransmitting", "keepalive-probing", "zero-window", "close-wait", "unguarded", "syn-sent", "orphan-retrying"}

// String returns the name used in the JSON output and the interface.
func (h Health) String() string {
	if h < healthCount {
		return healthNames[h]
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(h))
}

// ParseHealth parses a Health name as String prints it.
func ParseHealth(s string) (Health, error) {
	for i, n := range healthNames {
		if n == s {
			return Health(i), nil
		}
	}
	return 0, fmt.Errorf("model: unknown health %q (want one of ok, retransmitting, keepalive-probing, zero-window, close-wait, unguarded, syn-sent, orphan-retrying)", s)
}

// Unhealthy reports whether h deserves attention (everything except ok
// and the informational unguarded).
func (h Health) Unhealthy() bool { return h != HealthOK && h != HealthUnguarded }

// Dying reports whether the kernel is counting down to an abort.
func (h Health) Dying() bool {
	switch h {
	case HealthRetransmitting, HealthKeepaliveProbing, HealthSynSent, HealthOrphanRetrying:
		return true
	}
	return false
}

// Reason says which kernel rule will abort a connection.
type Reason uint8

// Abort reasons, named after what sets the limit.
const (
	ReasonNone Reason = iota
	ReasonRetries2
	ReasonUserTimeout
	ReasonKeepalive
	ReasonOrphanRetries
	ReasonSynRetries
	ReasonZeroWindowProbes
)

var reasonNames = [...]string{"", "tcp_retries2", "user_timeout", "keepalive", "orphan_retries", "syn_retries", "zero_window_probes"}

// String returns the JSON name of the reason ("" for none).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(r))
}

// Confidence says whether a prediction used the socket's own settings.
type Confidence uint8

// Confidence values.
const (
	// Assumed: some setting that decides the abort could not be read from
	// the socket and the namespace's sysctl was used instead.
	Assumed Confidence = iota
	// Exact: every setting was read from the socket or is a kernel fact.
	Exact
)

// String returns "exact" or "assumed".
func (c Confidence) String() string {
	if c == Exact {
		return "exact"
	}
	return "assumed"
}

// FiringKind is what happens at a scheduled timer expiry.
type FiringKind uint8

// Firing kinds.
const (
	FireRetransmit FiringKind = iota // an RTO retransmission (or SYN retransmission)
	FireProbe                        // a keepalive or zero-window probe
	FireAbort                        // the kernel gives up here
)

// String names the kind.
func (k FiringKind) String() string {
	switch k {
	case FireRetransmit:
		return "retransmit"
	case FireProbe:
		return "probe"
	case FireAbort:
		return "abort"
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(k))
}

// Firing is one expiry of the connection's timer, past or future.
type Firing struct {
	// N numbers retransmissions or probes from 1; an abort carries the
	// number of the check that fails.
	N    int
	Kind FiringKind
	// At is the best estimate; Earliest and Latest bound it. For a past
	// firing that was observed, all three are equal (to a jiffy).
	At, Earliest, Latest time.Time
	// Interval is what the timer was armed with before this firing.
	Interval time.Duration
	// Past is true for firings that already happened at the time of the
	// prediction; Observed marks those actually seen by a poll (the others
	// are reconstructed).
	Past, Observed bool
}

// Prediction is when and why the kernel will abort a connection.
type Prediction struct {
	Reason     Reason
	Confidence Confidence
	// At is the best estimate of the abort; [Earliest, Latest] is the
	// window that covers what cannot be seen from outside: timer-wheel
	// lateness, an uncertain start of the kernel's clock and, when the
	// decisive check falls within that uncertainty, both firings at which
	// the kernel may give up (then MaySlip is true).
	At, Earliest, Latest time.Time
	MaySlip              bool
	// Clock is the instant the kernel measures the budget from
	// (retrans_stamp, the last received segment, the first zero-window
	// probe), with its own uncertainty, and Budget the limit it applies.
	Clock, ClockEarliest, ClockLatest time.Time
	Budget                            time.Duration
	// Count is how many retransmissions or probes the kernel sends in all
	// before it gives up (best estimate).
	Count int
	// Schedule lists every retransmission or probe of the episode, past
	// and future, and ends with the abort.
	Schedule []Firing
	// Inputs lists the settings and observations the prediction used.
	Inputs []Input
	// Notes explain anything unusual (an ICMP error seen, a timer clamp
	// revealing TCP_USER_TIMEOUT, a pending check at either of two firings).
	Notes []string
	// Made is the sample time the prediction was computed at.
	Made time.Time
}

// Remaining is the time left until the best estimate, at now (negative
// when overdue). The countdown is a function of time: it needs no new
// sample.
func (p *Prediction) Remaining(now time.Time) time.Duration { return p.At.Sub(now) }

// Exposure is how long the kernel would take to notice if the peer host
// died at the sample time.
type Exposure struct {
	// Never is true for an idle connection without keepalive: it would
	// stay ESTABLISHED forever.
	Never bool
	// After is the time to the abort (when Never is false).
	After      time.Duration
	Reason     Reason
	Confidence Confidence
}

// EventKind is what happened to a connection that changed or vanished.
type EventKind uint8

// Event kinds.
const (
	// EventAborted: the connection vanished while the kernel was counting
	// down, within (or after the start of) the predicted window.
	EventAborted EventKind = iota + 1
	// EventReset: vanished from a synchronized state without closing
	// normally (an RST was received or sent), or while dying but well before
	// the predicted window.
	EventReset
	// EventClosed: vanished after a normal close (TIME-WAIT, FIN-WAIT-2,
	// LAST-ACK...) or without any sign of trouble.
	EventClosed
	// EventRecovered: was dying and an ACK arrived: backoff and probes are
	// back to zero.
	EventRecovered
	// EventPeerUnresponsive: a remote host became unresponsive (see
	// PeerTracker); the event names the host, not a connection.
	EventPeerUnresponsive
	// EventPeerAnswering: an unresponsive host was heard from again.
	EventPeerAnswering
	// EventNetNSGone: the connection's network namespace disappeared
	// (its last process exited, its bind mount was removed): whatever
	// became of the connection, the kernel did not abort it on a timer.
	EventNetNSGone
)

// String returns the JSON name of the event.
func (k EventKind) String() string {
	switch k {
	case EventAborted:
		return "aborted"
	case EventReset:
		return "reset"
	case EventClosed:
		return "closed"
	case EventRecovered:
		return "recovered"
	case EventPeerUnresponsive:
		return "peer-unresponsive"
	case EventPeerAnswering:
		return "peer-answering"
	case EventNetNSGone:
		return "netns-gone"
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(k))
}
