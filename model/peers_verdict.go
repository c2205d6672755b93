package model

// The evidence behind a host's verdict (see peers.go): when each
// connection last heard from the host, when each stalled one began to
// wait, and what the host's death does to each.

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// judge fills in a host's verdict, silence and blast radius from what its
// connections add up to.
func (pt *PeerTracker) judge(p *Peer, mem *peerMemory, now time.Time, u, jiffy time.Duration, t *hostTally) {
	p.SilentUncertainty = u + jiffy
	p.Conns, p.Dying, p.ByHealth = t.conns, t.dying, t.byHealth
	p.FirstAbort, p.LastAbort = t.firstAbort, t.lastAbort
	p.NeverNotice = t.neverCount()
	mem.neverSeen = p.NeverNotice
	p.Groups = make([]PeerGroup, 0, len(t.groups))
	for k, n := range t.groups {
		p.Groups = append(p.Groups, PeerGroup{PID: k.pid, Comm: t.names[k], RemotePort: k.remote, LocalPort: k.local, Health: k.health, Count: n})
	}
	slices.SortFunc(p.Groups, func(a, b PeerGroup) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Health, b.Health); c != 0 {
			return c
		}
		if c := cmp.Compare(a.RemotePort, b.RemotePort); c != 0 {
			return c
		}
		if c := cmp.Compare(a.LocalPort, b.LocalPort); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	if t.heard.After(mem.lastRx) {
		mem.lastRx = t.heard
	}
	p.SilentSince = mem.lastRx
	defer func() {
		if p.Status != PeerUnresponsive {
			mem.never = neverCache{} // a host no longer unresponsive holds no list
		}
	}()
	if len(t.stalled) == 0 {
		p.Status = PeerAlive
		return
	}
	first := 0
	for i, s := range t.stalled {
		if f := t.stalled[first]; s.at.Before(f.at) || s.at.Equal(f.at) && s.sock.ID.Cookie < f.sock.ID.Cookie {
			first = i
		}
	}
	p.StalledSince = t.stalled[first].at
	stallLatest, firstBy := t.stalled[first].latest, t.stalled[first].sock
	// A receive that, even read as early as the readings' resolution
	// allows, comes after the earliest stall shows the host was alive
	// after it.
	if mem.lastRx.Add(-p.SilentUncertainty).After(stallLatest) {
		p.Status = PeerPartial
		who := "a connection since gone"
		if t.heardBy != nil && t.heard.Equal(mem.lastRx) {
			who = connName(t.heardBy)
		}
		p.Reasons = append(p.Reasons,
			plural(len(t.stalled), "connection")+verb(len(t.stalled), " stalls", " stall")+", but "+who+" heard from it at "+mem.lastRx.Format("15:04:05.000")+
				", after "+connName(firstBy)+" began waiting at "+p.StalledSince.Format("15:04:05.000")+
				": the host is up; an application or one path is stuck")
		return
	}
	if waited := now.Sub(stallLatest); waited < pt.cfg.Settle {
		// Too early: a live host's other connections may not have had
		// the time to hear from it yet.
		p.Reasons = append(p.Reasons, plural(len(t.stalled), "connection")+verb(len(t.stalled), " waits", " wait")+" for an answer since "+
			p.StalledSince.Format("15:04:05.000")+", nothing heard since: judged after "+pt.cfg.Settle.String()+" of this")
		return
	}
	p.Status = PeerUnresponsive
	p.NeverNoticeConns = mem.never.refs(t.neverBase, t.never)
	p.Reasons = append(p.Reasons,
		plural(len(t.stalled), "connection")+verb(len(t.stalled), " waits", " wait")+" for answers that never came, the first since "+p.StalledSince.Format("15:04:05.000")+
			", and none of its "+plural(p.Conns, "connection")+" has received anything since")
	if !p.SilentSince.IsZero() {
		p.Reasons = append(p.Reasons, "last heard from at "+p.SilentSince.Format("15:04:05.000"))
	}
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// lastReceived is when the connection last received a segment from its
// peer (keepalive_time_elapsed: the later of the last data and the last
// ACK), if the kernel says so.
func lastReceived(r *Row, now time.Time) (time.Time, bool) {
	if !r.HasInfo() || !isSynchronized(r.Sock.State) && r.Sock.State != inetdiag.StateFinWait2 {
		// A SYN never answered has received nothing.
		return time.Time{}, false
	}
	// The ages are as of the sample, which between sweeps may be older
	// than the poll.
	return lastRx(r.Sock, r.SampledAt(now)), true
}

// stallStart is when a stalled connection sent the first transmission
// that its peer never answered — the first retransmission (retrans_stamp)
// of an RTO episode or a SYN, the first unanswered keepalive probe, or for
// zero-window probes the last answer — as a best estimate and the latest
// it can be. It reports false for a connection that is not waiting for an
// answer.
func stallStart(r *Row, now time.Time) (best, latest time.Time, ok bool) {
	pr := r.Prediction
	switch r.Health {
	case HealthRetransmitting, HealthOrphanRetrying, HealthSynSent:
		if pr != nil {
			return pr.Clock, pr.ClockLatest, true
		}
		return r.HealthSince.Time(), r.HealthSince.Time(), true
	case HealthKeepaliveProbing:
		if pr != nil {
			if at, latest, ok := firstProbe(pr.Schedule, r.Probes()); ok {
				return at, latest, true
			}
		}
		return r.HealthSince.Time(), r.HealthSince.Time(), true
	case HealthZeroWindow:
		// An answer resets icsk_probes_out: two outstanding are two
		// window probes unanswered in a row (a live receiver may skip
		// one, rate-limiting its answers). Fewer: the peer answers, it
		// is alive — whatever a TCP_USER_TIMEOUT will do to the
		// connection. The first unanswered probe went out after the last
		// answer, which is the earliest the wait can have begun.
		if r.Sock.Timer != inetdiag.TimerProbe0 || r.Probes() < 2 {
			return time.Time{}, time.Time{}, false
		}
		if at, ok := lastReceived(r, now); ok {
			return at, at, true
		}
		return r.HealthSince.Time(), r.HealthSince.Time(), true
	}
	return time.Time{}, time.Time{}, false
}

// neverNotices reports whether a connection would not notice its peer's
// death within d: idle without keepalive, or with one slower than d.
func neverNotices(r *Row, d time.Duration) bool {
	e := r.Exposure
	if e == nil || r.Prediction != nil {
		return false
	}
	return e.Never || e.After > d
}

// firstProbe is when the first unanswered keepalive probe went out, from
// a schedule: the first probe itself if the schedule lists it, else
// reckoned back from the pending one (probe probes+1, armed one interval
// after the last, the probes before it an interval apart).
func firstProbe(sched []Firing, probes int) (at, latest time.Time, ok bool) {
	for _, f := range sched {
		switch {
		case f.Kind != FireProbe:
		case f.N == 1:
			return f.At, f.Latest, true
		case f.N == probes+1:
			back := -time.Duration(probes) * f.Interval
			return f.At.Add(back), f.Latest.Add(back), true
		}
	}
	return time.Time{}, time.Time{}, false
}
