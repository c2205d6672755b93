package model

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// base is jiffy 0 of the synthetic kernels.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// conn returns a healthy, recently active connection with a full 6.18
// tcp_info.
func conn(cookie uint64, st inetdiag.State) inetdiag.Socket {
	return inetdiag.Socket{
		Family: inetdiag.FamilyInet,
		State:  st,
		ID: inetdiag.SockID{
			Src:    netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+cookie%20000)),
			Dst:    netip.MustParseAddrPort("10.0.0.2:443"),
			Cookie: cookie,
		},
		Inode: 7000 + uint32(cookie),
		Info: inetdiag.TCPCore{
			Len: inetdiag.TCPInfoLen6_18, State: uint8(st),
			RTO: inetdiag.MicrosOf(204 * time.Millisecond), RTT: inetdiag.MicrosOf(1 * time.Millisecond),
			LastDataSent: inetdiag.MillisOf(50 * time.Millisecond), LastDataRecv: inetdiag.MillisOf(50 * time.Millisecond), LastAckRecv: inetdiag.MillisOf(50 * time.Millisecond),
			SndWnd: 65536,
		},
	}
}

// rtoSock is the diag view at jiffy t of a connection in the episode r,
// with tcp_info of length infoLen (the RTO statistics exist from 248 on).
func rtoSock(cookie uint64, st inetdiag.State, r rtoRun, t int64, infoLen int) inetdiag.Socket {
	s := conn(cookie, st)
	n, rto, lds, exp, trt := r.sampleAt(t, infoLen >= inetdiag.TCPInfoLen6_7)
	s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, uint8(n), exp, 100
	in := &s.Info
	in.Len = int32(infoLen)
	in.CAState, in.Retransmits, in.Backoff, in.RTO = caLoss, uint8(n), uint8(n), inetdiag.MicrosOf(rto)
	in.Unacked, in.Lost, in.LastDataSent = 1, 1, inetdiag.MillisOf(lds)
	// The last ACK came in before the peer died, half a second before S.
	sinceS := r.k.dur(t - r.fires[0])
	in.LastAckRecv, in.LastDataRecv = inetdiag.MillisOf(sinceS+500*time.Millisecond), inetdiag.MillisOf(sinceS+500*time.Millisecond)
	if infoLen >= inetdiag.TCPInfoLen6_7 {
		in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = uint16(n), 1, inetdiag.MillisOf(trt)
	}
	return s
}

// track feeds one poll to a new tracker and returns the connection.
func track(t *testing.T, cfg Config, now time.Time, opts OptionSource, s inetdiag.Socket) (*Tracker, *Conn) {
	t.Helper()
	tr := NewTracker(cfg)
	poll := tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{s}, Options: opts})
	if len(poll.Conns) != 1 {
		t.Fatalf("Update returned %d connections, want 1", len(poll.Conns))
	}
	return tr, poll.Conns[0]
}

// optsOf is an OptionSource that knows every socket's options.
func optsOf(o SockOpts) OptionSource {
	return func(*inetdiag.Socket) (SockOpts, bool) { return o, true }
}

// cfgWith returns the default configuration with params changed by f.
func cfgWith(f func(p *Params)) Config {
	p := DefaultParams()
	if f != nil {
		f(&p)
	}
	return Config{Params: p}
}

// rel formats an instant relative to a reference, for messages.
func rel(at, ref time.Time) string { return fmt.Sprintf("S%+.3fs", at.Sub(ref).Seconds()) }

// checkInvariants checks what every prediction must satisfy.
func checkInvariants(t *testing.T, p *Prediction, now time.Time) {
	t.Helper()
	if p == nil {
		return
	}
	if p.Earliest.After(p.At) || p.At.After(p.Latest) {
		t.Errorf("window not ordered: earliest %v at %v latest %v", p.Earliest, p.At, p.Latest)
	}
	if len(p.Schedule) == 0 {
		t.Errorf("empty schedule")
		return
	}
	last := p.Schedule[len(p.Schedule)-1]
	if last.Kind != FireAbort || !last.At.Equal(p.At) {
		t.Errorf("schedule ends with %v at %v, want the abort at %v", last.Kind, last.At, p.At)
	}
	for i, f := range p.Schedule[:len(p.Schedule)-1] {
		if f.Kind == FireAbort {
			t.Errorf("schedule[%d] is an abort before the end", i)
		}
	}
	if got, want := p.Remaining(now), p.At.Sub(now); got != want {
		t.Errorf("Remaining(%v) = %v, want %v", now, got, want)
	}
}

// hasNote reports whether a note contains s.
func hasNote(p *Prediction, s string) bool {
	for _, n := range p.Notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// input returns the named input.
func input(p *Prediction, name InputName) (Input, bool) { return p.Input(name) }

// contains reports whether [lo, hi] contains at.
func contains(lo, hi, at time.Time) bool { return !at.Before(lo) && !at.After(hi) }
