package model

// The health decision: which kernel rule, if any, is counting a connection
// down, read from the timer inet_diag reports (idiag_timer) and tcp_info.
// The retransmission timer (tcp_retransmit_timer) runs the SYN_SENT rule
// (syn.go), the RTO rule (rto.go, with orphan.go for orphans), or with data
// in flight into a zero window the window-probing rule (zerowindow.go);
// the persist timer (tcp_probe_timer) the zero-window rule (zerowindow.go);
// the keepalive timer (tcp_keepalive_timer) the keepalive rule
// (keepalive.go). A connection no rule counts down may still be a leak
// (CLOSE-WAIT) or unguarded (idle without keepalive). The README's
// "Health" section lists the outcomes.

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// rule is the kernel rule whose timer decides a connection's fate.
type rule uint8

const (
	ruleNone               rule = iota
	ruleSyn                     // SYN retransmissions (syn.go)
	ruleZeroWindowInFlight      // the retransmission timer probing a zero window (zerowindow.go)
	ruleRTO                     // RTO backoff of a synchronized connection (rto.go)
	rulePersist                 // the persist timer probing a zero window (zerowindow.go)
	ruleKeepalive               // keepalive probes outstanding (keepalive.go)
)

// classify picks the rule from the sample alone: n is its retransmission
// count and backoff whether it is in RTO backoff. The keepalive rule still
// has to decide whether its probes are answered (predict).
func classify(s *inetdiag.Socket, n int, backoff bool) rule {
	info := &s.Info
	orphan := s.Inode == 0
	switch {
	case s.State == inetdiag.StateSynSent && n >= 1:
		return ruleSyn
	case backoff && isSynchronized(s.State) && n == 0 && !orphan && info.Has(inetdiag.TCPInfoLen5_4) && info.SndWnd == 0:
		// Data in flight into a zero window: tcp_retransmit_timer's
		// window-probing branch, which never counts retransmissions.
		return ruleZeroWindowInFlight
	case backoff && isSynchronized(s.State):
		return ruleRTO
	case s.Timer == inetdiag.TimerProbe0 && isSynchronized(s.State):
		return rulePersist
	case s.Timer == inetdiag.TimerKeepalive && s.Retrans >= 1 && (s.State == inetdiag.StateEstablished || s.State == inetdiag.StateCloseWait):
		return ruleKeepalive
	}
	return ruleNone
}

// predict applies rule r to the connection (prev is its previous sample,
// n its retransmission count): the health it concludes, and the abort it
// predicts (nil if none can be).
func (tr *Tracker) predict(r rule, c *Conn, prev *lastSample, now time.Time, n int) (Health, *Prediction) {
	orphan := c.Sock.Inode == 0
	// An orphan's timers run the same rules with tcp_orphan_retries.
	dying := func(h Health) Health {
		if orphan {
			return HealthOrphanRetrying
		}
		return h
	}
	switch r {
	case ruleSyn:
		return HealthSynSent, tr.synPrediction(c, now)
	case ruleZeroWindowInFlight:
		return HealthZeroWindow, tr.zeroWindowInFlightPrediction(c, now)
	case ruleRTO:
		return dying(HealthRetransmitting), tr.rtoPrediction(c, now, n, orphan)
	case rulePersist:
		return dying(HealthZeroWindow), tr.zeroWindowPrediction(c, now, orphan)
	case ruleKeepalive:
		if c.probes().keepalive.unanswered(c.Sock, c.Opts(), prev, now) {
			return HealthKeepaliveProbing, tr.keepalivePrediction(c, now)
		}
	}
	return HealthOK, nil
}

// quietHealth is the health of a connection no rule is counting down.
func (tr *Tracker) quietHealth(c *Conn, now time.Time) Health {
	switch s := c.Sock; {
	case s.State == inetdiag.StateCloseWait && tr.closeWaitAge(c, now) >= tr.cfg.CloseWaitAfter:
		return HealthCloseWait
	case s.State == inetdiag.StateEstablished && tr.idleUnguarded(c):
		return HealthUnguarded
	}
	return HealthOK
}

func isSynchronized(st inetdiag.State) bool {
	switch st {
	case inetdiag.StateEstablished, inetdiag.StateCloseWait, inetdiag.StateFinWait1, inetdiag.StateLastAck, inetdiag.StateClosing:
		return true
	}
	return false
}

// closeWaitAge is how long the connection has been in CLOSE-WAIT: at least
// since it was first seen there, and at least since the peer's FIN, which
// is the last ACK received unless the application sent data since.
func (tr *Tracker) closeWaitAge(c *Conn, now time.Time) time.Duration {
	age := now.Sub(c.StateSince.Time())
	if c.Sock.Info.Len >= inetdiag.TCPInfoLen2_6 && c.Sock.Info.LastAckRecv.Duration() > age {
		age = c.Sock.Info.LastAckRecv.Duration()
	}
	return age
}

// idle reports whether nothing is in flight or queued and no data moved
// for at least d.
func idle(s *inetdiag.Socket, d time.Duration) bool {
	if s.SendQ != 0 || s.Timer == inetdiag.TimerRetransmit || s.Timer == inetdiag.TimerProbe0 {
		return false
	}
	if s.Info.Len < inetdiag.TCPInfoLen2_6 {
		return false
	}
	return s.Info.Unacked == 0 && s.Info.LastDataSent.Duration() >= d && s.Info.LastDataRecv.Duration() >= d
}

// idleUnguarded reports whether the connection is idle without keepalive:
// if its peer died, nothing would ever tell.
func (tr *Tracker) idleUnguarded(c *Conn) bool {
	return idle(c.Sock, tr.cfg.IdleAfter) && !hasKeepalive(c)
}
