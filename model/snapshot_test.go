package model

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

func TestEndpoint(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"10.0.0.1:443", "10.0.0.1:443"},
		{"[::ffff:10.0.0.1]:443", "10.0.0.1:443"},
		{"[::ffff:10.0.0.1]:0", "10.0.0.1:*"},
		{"0.0.0.0:0", "0.0.0.0:*"},
		{"[2001:db8::1]:8080", "[2001:db8::1]:8080"},
		{"[2001:db8::1]:0", "[2001:db8::1]:*"},
		{"[::]:22", "[::]:22"},
		{"[fe80::1%eth0]:22", "[fe80::1%eth0]:22"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Endpoint(netip.MustParseAddrPort(tt.in)); got != tt.want {
				t.Errorf("Endpoint(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	calls := 0
	s := NewSnapshot(func() { calls++ })
	s.Release()
	s.Release()
	if calls != 1 {
		t.Errorf("release called %d times, want once", calls)
	}
	var nilSnap *Snapshot
	nilSnap.Release() // must not panic
	(&Snapshot{}).Release()
}

// rowOf makes a row for a socket from local to remote.
func rowOf(local, remote string, st inetdiag.State, h Health, e *Exposure, p *Prediction) Row {
	s := &inetdiag.Socket{State: st, ID: inetdiag.SockID{Src: netip.MustParseAddrPort(local), Dst: netip.MustParseAddrPort(remote)}}
	return Row{Sock: s, Health: h, Exposure: e, Prediction: p}
}

func TestCountAndSoonest(t *testing.T) {
	never := &Exposure{Never: true}
	p1 := &Prediction{At: base.Add(30 * time.Second)}
	p2 := &Prediction{At: base.Add(10 * time.Second)}
	p3 := &Prediction{At: base.Add(20 * time.Second)}
	s := &Snapshot{Rows: []Row{
		rowOf("10.0.0.1:40000", "10.0.0.2:5432", inetdiag.StateEstablished, HealthRetransmitting, nil, p1),
		rowOf("10.0.0.1:40001", "10.0.0.2:5432", inetdiag.StateEstablished, HealthUnguarded, never, nil),
		rowOf("10.0.0.1:40002", "10.0.0.3:443", inetdiag.StateSynSent, HealthSynSent, nil, p2),
		rowOf("10.0.0.1:8080", "10.0.0.4:51000", inetdiag.StateCloseWait, HealthCloseWait, nil, nil),
		rowOf("10.0.0.1:40003", "10.0.0.2:5432", inetdiag.StateFinWait1, HealthOrphanRetrying, nil, p3),
		rowOf("0.0.0.0:8080", "0.0.0.0:0", inetdiag.StateListen, HealthOK, nil, nil),
	}}
	c := s.Count()
	if c.Total != 6 {
		t.Errorf("total %d, want 6", c.Total)
	}
	wantStates := map[inetdiag.State]int{inetdiag.StateEstablished: 2, inetdiag.StateSynSent: 1, inetdiag.StateCloseWait: 1, inetdiag.StateFinWait1: 1, inetdiag.StateListen: 1}
	gotStates := map[inetdiag.State]int{}
	for _, st := range c.States() {
		gotStates[st] = c.ByState[st]
	}
	if !reflect.DeepEqual(gotStates, wantStates) {
		t.Errorf("by state %v, want %v", gotStates, wantStates)
	}
	wantHealth := map[Health]int{HealthRetransmitting: 1, HealthUnguarded: 1, HealthSynSent: 1, HealthCloseWait: 1, HealthOrphanRetrying: 1, HealthOK: 1}
	for h := HealthOK; h < healthCount; h++ {
		if got := c.Health(h); got != wantHealth[h] {
			t.Errorf("Health(%v) = %d, want %d", h, got, wantHealth[h])
		}
	}
	if got := c.Health(Health(99)); got != 0 {
		t.Errorf("Health(99) = %d", got)
	}
	if r := s.Summarize().SoonestAbort(s); r == nil || r.Prediction != p2 {
		t.Errorf("SoonestAbort = %+v, want the row predicted at +10s", r)
	}
	one := &Snapshot{Rows: s.Rows[1:2]}
	if r := one.Summarize().SoonestAbort(one); r != nil {
		t.Errorf("SoonestAbort without predictions = %+v, want nil", r)
	}
	if c := (&Snapshot{}).Count(); c.Total != 0 || len(c.States()) != 0 {
		t.Errorf("empty snapshot counts %+v", c)
	}
}

func TestNeverExposure(t *testing.T) {
	never := &Exposure{Never: true}
	finite := &Exposure{After: time.Hour}
	s := &Snapshot{
		// A port mapped to false has no listener; 65535 is the last of
		// the port table.
		Listening: map[uint16]bool{8080: true, 22: true, 6379: false, 65535: true},
		Rows: []Row{
			// Clients of a remote 5432: the service is the remote port.
			rowOf("10.0.0.1:40000", "10.0.0.2:5432", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:40001", "10.0.0.2:5432", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:40002", "10.0.0.9:5432", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			// Accepted by the local 8080: the service is the local port,
			// even though the client's port is lower.
			rowOf("10.0.0.1:8080", "10.0.0.5:80", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:8080", "10.0.0.6:51000", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("[2001:db8::1]:22", "[2001:db8::2]:60000", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:40003", "10.0.0.2:6379", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:6379", "10.0.0.3:40010", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			rowOf("10.0.0.1:65535", "10.0.0.4:40011", inetdiag.StateEstablished, HealthUnguarded, never, nil),
			// Not counted: guarded, or no exposure.
			rowOf("10.0.0.1:40004", "10.0.0.2:5432", inetdiag.StateEstablished, HealthOK, finite, nil),
			rowOf("10.0.0.1:8080", "10.0.0.7:51001", inetdiag.StateCloseWait, HealthCloseWait, nil, nil),
		},
	}
	tests := []struct {
		top  int
		want []PortExposure
	}{
		// Most first, ties by port.
		{0, []PortExposure{{5432, 3}, {8080, 2}, {22, 1}, {6379, 1}, {40010, 1}, {65535, 1}}},
		{2, []PortExposure{{5432, 3}, {8080, 2}}},
		{10, []PortExposure{{5432, 3}, {8080, 2}, {22, 1}, {6379, 1}, {40010, 1}, {65535, 1}}},
	}
	for _, tt := range tests {
		total, ports := s.NeverExposure(tt.top)
		if total != 9 {
			t.Errorf("top %d: total %d, want 9", tt.top, total)
		}
		if !reflect.DeepEqual(ports, tt.want) {
			t.Errorf("top %d: %v, want %v", tt.top, ports, tt.want)
		}
	}
	if r := s.Rows[3]; s.ServicePort(&r) != 8080 {
		t.Errorf("ServicePort of an accepted connection = %d, want 8080", s.ServicePort(&r))
	}
	if total, ports := (&Snapshot{}).NeverExposure(3); total != 0 || len(ports) != 0 {
		t.Errorf("empty snapshot: %d %v", total, ports)
	}
}

// TestRows: rows are copies that later polls do not change.
func TestRows(t *testing.T) {
	d, _, t0 := dying(1)
	idle := idleConn(2, time.Minute)
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	tr := NewTracker(cfg)
	socks := []inetdiag.Socket{d, idle}
	poll := tr.Update(PollInput{Time: t0, Socks: socks})
	owner := func(s *inetdiag.Socket) (int, string) { return int(s.Inode), "svc" }
	rows := poll.Rows(owner)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	r0, r1 := rows[0], rows[1]
	if r0.Sock != &socks[0] || r0.Health != HealthRetransmitting || r0.Prediction == nil || r0.PID != int(socks[0].Inode) || r0.Comm != "svc" || len(r0.Samples()) == 0 {
		t.Fatalf("row 0 = %+v", r0)
	}
	if r1.Health != HealthUnguarded || r1.Exposure == nil || !r1.Exposure.Never {
		t.Fatalf("row 1 = %+v", r1)
	}
	histBefore := append([]Sample(nil), r0.Samples()...)
	expBefore := *r1.Exposure
	// The connections change as later polls would change them.
	c0, c1 := poll.Conns[0], poll.Conns[1]
	c0.History[0].Retransmits = 99
	c0.Health = HealthOK
	c1.Health = HealthKeepaliveProbing
	if !reflect.DeepEqual(rows[0].Samples(), histBefore) || rows[0].Health != HealthRetransmitting {
		t.Errorf("row 0 changed with its connection: %+v", rows[0])
	}
	if *rows[1].Exposure != expBefore || rows[1].Health != HealthUnguarded {
		t.Errorf("row 1 changed with its connection: %+v %+v", rows[1], *rows[1].Exposure)
	}
	// The next polls (other buffers, as the tracker requires) leave the
	// rows alone too, the second connection now active with keepalive.
	for i := 1; i <= 2; i++ {
		active := with(conn(2, inetdiag.StateEstablished), func(s *inetdiag.Socket) { s.Timer, s.Expires = inetdiag.TimerKeepalive, time.Hour })
		tr.Update(PollInput{Time: t0.Add(time.Duration(i) * time.Second), Socks: []inetdiag.Socket{conn(1, inetdiag.StateEstablished), active}})
	}
	if rows[0].Health != HealthRetransmitting || rows[0].Sock.State != inetdiag.StateEstablished || rows[0].Sock.Timer != inetdiag.TimerRetransmit || !reflect.DeepEqual(rows[0].Samples(), histBefore) {
		t.Errorf("row 0 changed after the next polls: %+v", rows[0])
	}
	if *rows[1].Exposure != expBefore || rows[1].Health != HealthUnguarded {
		t.Errorf("row 1 changed after the next polls: %+v %+v", rows[1], *rows[1].Exposure)
	}
	if got := (Poll{}).Rows(nil); len(got) != 0 {
		t.Errorf("empty poll gave %d rows", len(got))
	}
	// Without an owner function the process is unknown.
	if r := poll.Rows(nil)[0]; r.PID != 0 || r.Comm != "" {
		t.Errorf("owner without a resolver: %d %q", r.PID, r.Comm)
	}
}

// TestRowKernelFacts: the counts every output prints come from tcp_info
// when the kernel sent it, and from the diag fields otherwise (request
// sockets, TIME-WAIT), so that the table, the JSON and the metrics agree.
func TestRowKernelFacts(t *testing.T) {
	withInfo := inetdiag.TCPCore{Len: inetdiag.TCPInfoLen6_18, Retransmits: 3, Probes: 2}
	tests := []struct {
		name                string
		sock                inetdiag.Socket
		hasInfo             bool
		retransmits, probes int
	}{
		{"tcp_info wins over the diag count", inetdiag.Socket{Timer: inetdiag.TimerRetransmit, Retrans: 9, Info: withInfo}, true, 3, 2},
		{"request socket retransmitting its SYN-ACK", inetdiag.Socket{State: inetdiag.StateSynRecv, Timer: inetdiag.TimerRetransmit, Retrans: 4}, false, 4, 0},
		{"keepalive probes without tcp_info", inetdiag.Socket{Timer: inetdiag.TimerKeepalive, Retrans: 2}, false, 0, 2},
		{"window probes without tcp_info", inetdiag.Socket{Timer: inetdiag.TimerProbe0, Retrans: 5}, false, 0, 5},
		{"time-wait", inetdiag.Socket{State: inetdiag.StateTimeWait, Timer: inetdiag.TimerTimeWait}, false, 0, 0},
		{"a tcp_info too short to hold the counters", inetdiag.Socket{Timer: inetdiag.TimerRetransmit, Retrans: 1, Info: inetdiag.TCPCore{Len: 8, Retransmits: 7}}, false, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Row{Sock: &tt.sock}
			if got := r.HasInfo(); got != tt.hasInfo {
				t.Errorf("HasInfo() = %v, want %v", got, tt.hasInfo)
			}
			if got := r.Retransmits(); got != tt.retransmits {
				t.Errorf("Retransmits() = %d, want %d", got, tt.retransmits)
			}
			if got := r.Probes(); got != tt.probes {
				t.Errorf("Probes() = %d, want %d", got, tt.probes)
			}
		})
	}
}
