package model

import "github.com/tcpwatch/tcpwatch/inetdiag"

// Between two sweeps of a large host only the suspects are looked up, so
// a connection that the last sweep saw healthy and that has begun to
// retransmit since (its peer host died a second ago) would wait for the
// next sweep to be seen: at 10^6 sockets sweeps come tens of seconds
// apart. The namespace's counters see it at once: every firing of a
// retransmission timer counts in TCPTimeouts (tcp_retransmit_timer, and
// tcp_syn_ack_timeout for a request socket). The firings of the suspects
// are known from their look-ups, and SYN and SYN-ACK retransmissions
// count in TCPSynRetrans as well, so what is left was fired by a
// connection nobody looks up, and the next poll should sweep.

// RTOLedger balances a namespace's TCPTimeouts against the firings that
// are accounted for, between two sweeps.
type RTOLedger struct {
	last  Counters // the reading the balance runs from
	known bool
	debt  int64
}

// Swept starts the balance again after a sweep: its dump saw every
// connection. after is the reading taken after the dump (a firing between
// a socket's reading and it is missed, and the connection's next firing
// counts instead); nil, or a kernel without the counters, stops the
// balance until the next sweep.
func (l *RTOLedger) Swept(after *Counters) {
	l.debt = 0
	l.known = after != nil && after.HasTimeouts
	if l.known {
		l.last = *after
	}
}

// Active reports whether the balance runs (a refresh then reads the
// counters even with nothing to look up).
func (l *RTOLedger) Active() bool { return l.known }

// Refreshed takes the reading made before a refresh's look-ups and the
// firings those look-ups found (Poll.Firings), and reports whether some
// firings since the sweep are not accounted for. Firings are accounted
// for by the look-ups, by SYN and SYN-ACK retransmissions, and by aborts
// on a timeout (the last firing of an aborted connection counts, and its
// look-up finds it gone).
//
// The reading comes before the look-ups: a suspect's firing between the
// two is found by this look-up and counted by the next reading, never the
// other way round, so that the suspects alone never leave the balance
// positive. A keepalive or zero-window abort accounts for a firing that
// did not happen: the balance may be negative for the rest of the sweep,
// and hides as many unexplained firings.
func (l *RTOLedger) Refreshed(before *Counters, firings int) bool {
	if !l.known || before == nil || !before.HasTimeouts {
		l.known = false
		return false
	}
	l.debt += int64(before.Timeouts-l.last.Timeouts) -
		int64(before.SynRetrans-l.last.SynRetrans) -
		int64(before.AbortOnTimeout-l.last.AbortOnTimeout) -
		int64(firings)
	l.last = *before
	return l.debt > 0
}

// firingsSince counts the RTO firings between a connection's previous
// sample and s: exact from tcpi_total_rto (6.7+), else from the
// episode's count (icsk_retransmits), which starts again from 0 after a
// recovery, so that an episode that ended and began again between the
// two counts its new firings only. A connection in SYN-SENT counts none:
// its firings are SYN retransmissions, which the ledger accounts for.
func firingsSince(prev *lastSample, s *inetdiag.Socket) int {
	if s.State == inetdiag.StateSynSent || !s.Info.Has(inetdiag.TCPInfoLen2_6) {
		return 0
	}
	if prev.hasRTOStats() && s.Info.Has(inetdiag.TCPInfoLen6_7) {
		return int(s.Info.TotalRTO - prev.rtos)
	}
	if n, p := int(s.Info.Retransmits), int(prev.retransmits); n >= p {
		return n - p
	} else {
		return n
	}
}
