package model

// Exposure: how long the kernel would take to notice that the peer host of
// an established connection died now. A connection that sends finds out
// through its retransmissions (tcp_retransmit_timer → tcp_write_timeout:
// tcp_retries2 or TCP_USER_TIMEOUT, rto.go); a quiet one only through
// keepalive (tcp_keepalive_timer, keepalive.go), and never without it. The
// README's "How predictions work" states the rules these budgets come
// from.

import "time"

// exposure is how long the kernel would take to notice that the peer host
// died at now.
func (tr *Tracker) exposure(c *Conn, now time.Time) Exposure {
	p := tr.cfg.Params
	s := c.Sock
	if c.Prediction != nil {
		return Exposure{After: c.Prediction.At.Sub(now), Reason: c.Prediction.Reason, Confidence: c.Prediction.Confidence}
	}
	known := c.Opts().Known
	// A connection that carried data lately will send again soon, and its
	// retransmissions will find out; only a quiet one relies on keepalive.
	sending := !idle(s, tr.cfg.IdleAfter)
	if sending {
		rto := s.Info.RTO.Duration()
		if rto <= 0 {
			rto = RTOMin
		}
		if known && c.Opts().UserTimeout > 0 {
			return Exposure{After: rto + c.Opts().UserTimeout, Reason: ReasonUserTimeout, Confidence: Exact}
		}
		return Exposure{After: rto + ModelTimeout(p.Retries2, RTOMin, tr.rtoMax(c)), Reason: ReasonRetries2, Confidence: confidence(known)}
	}
	if !hasKeepalive(c) {
		return Exposure{Never: true, Confidence: confidence(known)}
	}
	idle, intvl, cnt, _ := tr.keepaliveSettings(c)
	budget := idle + time.Duration(cnt)*intvl
	reason := ReasonKeepalive
	if known && c.Opts().UserTimeout > 0 {
		k := 1
		if over := c.Opts().UserTimeout - idle; over > 0 && intvl > 0 {
			k = int((over + intvl - 1) / intvl)
		}
		budget = idle + time.Duration(k)*intvl
		reason = ReasonUserTimeout
	}
	after := lastRx(s, now).Add(budget).Sub(now)
	if after < 0 {
		after = 0
	}
	return Exposure{After: after, Reason: reason, Confidence: confidence(known)}
}
