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

// judge fills in a host's verdict, silence and blast radius.
// members are the indices of its connections in rows.
func (pt *PeerTracker) judge(p *Peer, mem *peerMemory, now time.Time, u, jiffy time.Duration, rows []Row, members []int) {
	p.SilentUncertainty = u + jiffy
	var stalled, never []int
	var heard time.Time // the latest receive on this poll's connections
	heardRow := -1
	// Groups are counted under a key of plain numbers (hashing the
	// process name for each of 10^5 connections of one host was most of
	// a verdict's cost); the name is taken from the first row of a group.
	type groupKey struct {
		pid    int
		port   uint16
		health Health
	}
	groups := map[groupKey]int{}
	names := map[groupKey]string{}
	for _, i := range members {
		r := &rows[i]
		p.Conns++
		if r.Health < healthCount {
			p.ByHealth[r.Health]++
		}
		if r.Health.Dying() {
			p.Dying++
		}
		if at, ok := lastReceived(r, now); ok && at.After(heard) {
			heard, heardRow = at, i
		}
		if _, _, ok := stallStart(r, now); ok {
			stalled = append(stalled, i)
		}
		if pr := r.Prediction; pr != nil {
			if p.FirstAbort.IsZero() || pr.At.Before(p.FirstAbort) {
				p.FirstAbort = pr.At
			}
			if pr.At.After(p.LastAbort) {
				p.LastAbort = pr.At
			}
		}
		if neverNotices(r, pt.cfg.NoticeWithin) {
			p.NeverNotice++
			never = append(never, i)
		}
		k := groupKey{pid: r.PID, port: r.Sock.ID.Dst.Port(), health: r.Health}
		if groups[k]++; groups[k] == 1 && r.Comm != "" {
			names[k] = r.Comm
		}
	}
	p.Groups = make([]PeerGroup, 0, len(groups))
	for k, n := range groups {
		p.Groups = append(p.Groups, PeerGroup{PID: k.pid, Comm: names[k], RemotePort: k.port, Health: k.health, Count: n})
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
		return cmp.Compare(a.PID, b.PID)
	})
	if heard.After(mem.lastRx) {
		mem.lastRx = heard
	}
	p.SilentSince = mem.lastRx
	if len(stalled) == 0 {
		p.Status = PeerAlive
		return
	}
	first := -1
	var stallLatest time.Time
	for _, i := range stalled {
		at, latest, _ := stallStart(&rows[i], now)
		if first < 0 || at.Before(p.StalledSince) {
			p.StalledSince, stallLatest, first = at, latest, i
		}
	}
	// A receive that, even read as early as the readings' resolution
	// allows, comes after the earliest stall shows the host was alive
	// after it.
	if mem.lastRx.Add(-p.SilentUncertainty).After(stallLatest) {
		p.Status = PeerPartial
		who := "a connection since gone"
		if heardRow >= 0 && heard.Equal(mem.lastRx) {
			who = rows[heardRow].Local() + " → " + rows[heardRow].Remote()
		}
		p.Reasons = append(p.Reasons,
			plural(len(stalled), "connection")+verb(len(stalled), " stalls", " stall")+", but "+who+" heard from it at "+mem.lastRx.Format("15:04:05.000")+
				", after "+rows[first].Local()+" → "+rows[first].Remote()+" began waiting at "+p.StalledSince.Format("15:04:05.000")+
				": the host is up; an application or one path is stuck")
		return
	}
	if waited := now.Sub(stallLatest); waited < pt.cfg.Settle {
		// Too early: a live host's other connections may not have had
		// the time to hear from it yet.
		p.Reasons = append(p.Reasons, plural(len(stalled), "connection")+verb(len(stalled), " waits", " wait")+" for an answer since "+
			p.StalledSince.Format("15:04:05.000")+", nothing heard since: judged after "+pt.cfg.Settle.String()+" of this")
		return
	}
	p.Status = PeerUnresponsive
	p.NeverNoticeConns = make([]ConnRef, len(never))
	for k, i := range never {
		p.NeverNoticeConns[k] = ConnRef{Family: rows[i].Sock.Family, ID: rows[i].Sock.ID}
	}
	p.Reasons = append(p.Reasons,
		plural(len(stalled), "connection")+verb(len(stalled), " waits", " wait")+" for answers that never came, the first since "+p.StalledSince.Format("15:04:05.000")+
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
		return r.HealthSince, r.HealthSince, true
	case HealthKeepaliveProbing:
		if pr != nil {
			if at, latest, ok := firstProbe(pr.Schedule, r.Probes()); ok {
				return at, latest, true
			}
		}
		return r.HealthSince, r.HealthSince, true
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
		return r.HealthSince, r.HealthSince, true
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
