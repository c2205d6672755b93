package report

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// streamFixture is peersFixture with rows that stretch the columns: a
// process name of several-byte runes, a wide and a narrow address, an
// assumed prediction sooner than the exact one, a listener (whose port
// makes it the service port of the connections to it) and connections
// that would never notice a dead peer on several ports.
func streamFixture() *model.Snapshot {
	snap := peersFixture()
	now := snap.Time
	snap.Notices = []string{"not root: process names only for your own processes"}
	listener := &inetdiag.Socket{Family: inetdiag.FamilyInet, State: inetdiag.StateListen,
		ID: inetdiag.SockID{Src: netip.MustParseAddrPort("0.0.0.0:8080"), Dst: netip.MustParseAddrPort("0.0.0.0:0"), Cookie: 0x20}}
	snap.Listening = map[uint16]bool{8080: true}
	snap.Rows = append(snap.Rows, model.Row{Sock: listener, PID: 4242, Comm: "wébsérvé"})
	for i := range 5 {
		s := &inetdiag.Socket{Family: inetdiag.FamilyInet6, State: inetdiag.StateEstablished, RecvQ: uint32(i * 100000),
			ID:   inetdiag.SockID{Src: netip.MustParseAddrPort("[fd00:aaaa:bbbb:cccc::1]:8080"), Dst: netip.AddrPortFrom(netip.MustParseAddr("fd00::9"), uint16(50000+i)), Cookie: uint64(0x30 + i)},
			Info: inetdiag.TCPCore{Len: 280, RTO: inetdiag.MicrosOf(204 * time.Millisecond)}}
		snap.Rows = append(snap.Rows, model.Row{Sock: s, Health: model.HealthUnguarded, Exposure: &model.Exposure{Never: true}, PID: 4242, Comm: "wébsérvé"})
	}
	soon := &inetdiag.Socket{Family: inetdiag.FamilyInet, State: inetdiag.StateSynSent, Timer: inetdiag.TimerRetransmit, Retrans: 2,
		ID: inetdiag.SockID{Src: netip.MustParseAddrPort("1.2.3.4:5"), Dst: netip.MustParseAddrPort("5.6.7.8:9"), Cookie: 0x40}}
	snap.Rows = append(snap.Rows, model.Row{Sock: soon, Health: model.HealthSynSent,
		Prediction: &model.Prediction{Reason: model.ReasonSynRetries, Confidence: model.Assumed, At: now.Add(3 * time.Second), Earliest: now.Add(2 * time.Second), Latest: now.Add(4 * time.Second)}})
	return snap
}

// manyRows is streamFixture's rows repeated up to n rows (their cells
// fill several of the table's chunks), with predictions at many instants.
func manyRows(n int) *model.Snapshot {
	snap := streamFixture()
	base := snap.Rows
	for i := 0; len(snap.Rows) < n; i++ {
		r := base[i%len(base)]
		if r.Prediction != nil {
			p := *r.Prediction
			p.At = p.At.Add(-time.Duration(i%97) * time.Second)
			r.Prediction = &p
		}
		snap.Rows = append(snap.Rows, r)
	}
	return snap
}

// rowless is snap without its rows, as a one-shot's stream returns it.
func rowless(snap *model.Snapshot) *model.Snapshot {
	out := *snap
	out.Rows = nil
	return &out
}

// The streaming writers write the bytes of WriteTable and WriteJSON.
func TestStreamsMatchSnapshotWriters(t *testing.T) {
	for _, tc := range []struct {
		name string
		snap *model.Snapshot
	}{{"rows and peers", streamFixture()}, {"plain", fixture()}, {"empty", rowless(fixture())}, {"several chunks", manyRows(3000)}} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := WriteTable(&want, tc.snap); err != nil {
				t.Fatal(err)
			}
			ts := NewTableStream()
			for i := range tc.snap.Rows {
				if err := ts.Add(&tc.snap.Rows[i], tc.snap.Time); err != nil {
					t.Fatal(err)
				}
			}
			if err := ts.Finish(&got, rowless(tc.snap)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("table stream:\n%s\nWriteTable:\n%s", got.Bytes(), want.Bytes())
			}

			want.Reset()
			got.Reset()
			if err := WriteJSON(&want, tc.snap); err != nil {
				t.Fatal(err)
			}
			js := NewJSONStream(&got)
			for i := range tc.snap.Rows {
				if err := js.Row(&tc.snap.Rows[i], tc.snap.Time); err != nil {
					t.Fatal(err)
				}
			}
			if err := js.Finish(rowless(tc.snap)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("JSON stream:\n%s\nWriteJSON:\n%s", got.Bytes(), want.Bytes())
			}
		})
	}
}

// Each row's times are its own: the JSON's time and abort_in_s, the
// table's Abort-in.
func TestStreamRowTime(t *testing.T) {
	snap := fixture()
	later := snap.Time.Add(100 * time.Millisecond)
	var b bytes.Buffer
	js := NewJSONStream(&b)
	if err := js.Row(&snap.Rows[0], later); err != nil {
		t.Fatal(err)
	}
	if err := js.Finish(rowless(model.NewSnapshot(nil))); err != nil {
		t.Fatal(err)
	}
	line := decodeLines(t, b.Bytes())[0]
	if line["time"] != later.Format(TimeFormat) || line["abort_in_s"] != 930.0 {
		t.Errorf("time %v, abort_in_s %v; want %s and 930", line["time"], line["abort_in_s"], later.Format(TimeFormat))
	}
	b.Reset()
	ts := NewTableStream()
	if err := ts.Add(&snap.Rows[0], later); err != nil {
		t.Fatal(err)
	}
	if err := ts.Finish(&b, rowless(snap)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(" 15m30s ")) {
		t.Errorf("table has no Abort-in of 15m30s from the row's time:\n%s", b.Bytes())
	}
}
