package model

import (
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestRTOLedger follows the balance of a namespace's RTO firings over the
// refreshes between two sweeps: positive only when something nobody looks
// up has fired.
func TestRTOLedger(t *testing.T) {
	type step struct {
		c       Counters // the reading before the look-ups
		firings int      // found by the look-ups
		want    bool
	}
	at := func(timeouts, syn, aborts uint64) Counters {
		return Counters{Timeouts: timeouts, SynRetrans: syn, AbortOnTimeout: aborts, HasTimeouts: true}
	}
	tests := []struct {
		name  string
		swept *Counters
		steps []step
	}{
		{"quiet host", &Counters{Timeouts: 100, SynRetrans: 7, HasTimeouts: true},
			[]step{{at(100, 7, 0), 0, false}, {at(100, 7, 0), 0, false}}},
		{"suspects' firings only", &Counters{Timeouts: 100, HasTimeouts: true},
			[]step{{at(103, 0, 0), 3, false}, {at(105, 0, 0), 2, false}}},
		{"a healthy connection begins to retransmit", &Counters{Timeouts: 100, HasTimeouts: true},
			[]step{{at(100, 0, 0), 0, false}, {at(101, 0, 0), 0, true}, {at(102, 0, 0), 0, true}}},
		{"beside a suspect", &Counters{Timeouts: 100, HasTimeouts: true},
			[]step{{at(102, 0, 0), 1, true}}},
		{"SYN and SYN-ACK retransmissions", &Counters{Timeouts: 100, SynRetrans: 40, HasTimeouts: true},
			[]step{{at(105, 45, 0), 0, false}}},
		// A suspect fired between the reading and its look-up: found now,
		// counted by the next reading. Never positive.
		{"a firing found before it is counted", &Counters{Timeouts: 100, HasTimeouts: true},
			[]step{{at(100, 0, 0), 1, false}, {at(101, 0, 0), 0, false}}},
		// The last firing of a connection aborted on a timeout: its
		// look-up finds it gone.
		{"an abort on a timeout", &Counters{Timeouts: 100, HasTimeouts: true},
			[]step{{at(101, 0, 1), 0, false}}},
		{"no counters at the sweep", nil, []step{{at(105, 0, 0), 0, false}}},
		{"a kernel without TCPTimeouts", &Counters{}, []step{{Counters{}, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l RTOLedger
			l.Swept(tt.swept)
			for i, s := range tt.steps {
				c := s.c
				if got := l.Refreshed(&c, s.firings); got != s.want {
					t.Errorf("refresh %d: unexplained %v, want %v (debt %d)", i, got, s.want, l.debt)
				}
			}
			// A sweep starts the balance again.
			l.Swept(&Counters{Timeouts: 500, HasTimeouts: true})
			if c := at(500, 0, 0); l.Refreshed(&c, 0) {
				t.Errorf("after a sweep: unexplained with no firing since")
			}
		})
	}
	// Counters lost in the middle stop the balance until the next sweep.
	var l RTOLedger
	l.Swept(&Counters{Timeouts: 1, HasTimeouts: true})
	if l.Refreshed(nil, 0) || l.Active() {
		t.Errorf("unreadable counters: the balance still runs")
	}
	if c := at(9, 0, 0); l.Refreshed(&c, 0) {
		t.Errorf("after unreadable counters: unexplained before a sweep")
	}
}

func TestFiringsSince(t *testing.T) {
	sock := func(st inetdiag.State, infoLen int, retransmits uint8, totalRTO uint16) inetdiag.Socket {
		s := conn(1, st)
		s.Info.Len, s.Info.Retransmits, s.Info.TotalRTO = int32(infoLen), retransmits, totalRTO
		return s
	}
	tests := []struct {
		name      string
		prev, now inetdiag.Socket
		want      int
	}{
		{"tcpi_total_rto", sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen6_18, 2, 7), sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen6_18, 4, 9), 2},
		// Recovered and fired again between the two: the total counts all.
		{"total over a recovery", sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen6_18, 3, 7), sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen6_18, 1, 11), 4},
		{"without the total", sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen5_4, 2, 0), sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen5_4, 5, 0), 3},
		{"without the total, over a recovery", sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen5_4, 3, 0), sock(inetdiag.StateEstablished, inetdiag.TCPInfoLen5_4, 1, 0), 1},
		{"SYN-SENT", sock(inetdiag.StateSynSent, inetdiag.TCPInfoLen6_18, 1, 1), sock(inetdiag.StateSynSent, inetdiag.TCPInfoLen6_18, 3, 3), 0},
		{"no tcp_info", sock(inetdiag.StateEstablished, 0, 0, 0), sock(inetdiag.StateEstablished, 0, 0, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := lastOf(&tt.prev)
			if got := firingsSince(&prev, &tt.now); got != tt.want {
				t.Errorf("firings %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRefreshCountsFirings: a refresh's Poll counts the RTO firings its
// connections show since the sweep.
func TestRefreshCountsFirings(t *testing.T) {
	tr := NewTracker(cfgWith(nil))
	a, b := conn(1, inetdiag.StateEstablished), conn(2, inetdiag.StateEstablished)
	for _, s := range []*inetdiag.Socket{&a, &b} {
		s.Info.Len = inetdiag.TCPInfoLen6_18
	}
	tr.Update(PollInput{Time: base, Socks: []inetdiag.Socket{a, b}})
	a.Info.Retransmits, a.Info.TotalRTO = 2, 2
	b.Info.Retransmits, b.Info.TotalRTO = 1, 1
	p := tr.Refresh(PollInput{Time: base.Add(1e9), Socks: []inetdiag.Socket{a, b}}, nil)
	if p.Firings != 3 {
		t.Fatalf("first refresh: %d firings, want 3", p.Firings)
	}
	a.Info.Retransmits, a.Info.TotalRTO = 3, 3
	p = tr.Refresh(PollInput{Time: base.Add(2e9), Socks: []inetdiag.Socket{a}}, nil)
	if p.Firings != 1 {
		t.Fatalf("second refresh: %d firings, want 1", p.Firings)
	}
}
