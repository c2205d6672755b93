package record

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// leaves returns every settable leaf field of v (a struct), recursively,
// with its path. netip.AddrPort counts as a leaf.
func leaves(v reflect.Value, path string, out map[string]reflect.Value) {
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		p := path + sf.Name
		switch {
		case !sf.IsExported():
			out[p] = reflect.Value{} // unexported: recorded, not settable
		case f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[netip.AddrPort]():
			leaves(f, p+".", out)
		default:
			out[p] = f
		}
	}
}

// setNonZero gives a leaf a value other than zero.
func setNonZero(t *testing.T, name string, f reflect.Value) {
	t.Helper()
	switch f.Kind() {
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(1)
	case reflect.Int, reflect.Int32, reflect.Int64:
		f.SetInt(int64(time.Millisecond))
	case reflect.String:
		f.SetString("x")
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
	default:
		if f.Type() == reflect.TypeFor[netip.AddrPort]() {
			f.Set(reflect.ValueOf(netip.MustParseAddrPort("10.0.0.1:1")))
			return
		}
		t.Fatalf("%s: no test value for kind %v", name, f.Kind())
	}
}

// TestFieldsCoverSocket changes each leaf of a Socket alone and checks
// that exactly one column of the codec sees it: a field inetdiag adds and
// the codec lacks would be dropped from every recording.
func TestFieldsCoverSocket(t *testing.T) {
	// The codec's flat socket: the compact socket's own fields (its Info
	// and Full are the other half's) and a socket's whole.
	flatLeaves := func(r *rsock) map[string]reflect.Value {
		m := map[string]reflect.Value{}
		leaves(reflect.ValueOf(&r.s).Elem(), "", m)
		delete(m, "Full")
		for name := range m {
			if strings.HasPrefix(name, "Info.") {
				delete(m, name)
			}
		}
		leaves(reflect.ValueOf(&r.f).Elem(), "", m)
		return m
	}
	var probe rsock
	all := flatLeaves(&probe)
	for name := range all {
		if all[name].IsValid() {
			continue
		}
		if name != "attrsSeen" {
			t.Errorf("inetdiag.Socket has an unexported field %s the codec knows nothing of", name)
		}
	}
	for name := range all {
		if !all[name].IsValid() {
			continue
		}
		var s rsock
		setNonZero(t, name, flatLeaves(&s)[name])
		var zw, sw [nWords]uint64
		var zero rsock
		flatten(&zero, &zw)
		flatten(&s, &sw)
		var hits []string
		for i := range sw {
			if sw[i] != zw[i] {
				hits = append(hits, words[i].name)
			}
		}
		for _, x := range extras {
			if !x.eq(&zero, &s) {
				hits = append(hits, x.name)
			}
		}
		if len(hits) != 1 || hits[0] != name {
			t.Errorf("setting %s changed columns %v, want exactly [%s]", name, hits, name)
		}
		var back rsock
		unflatten(&sw, &back)
		for _, x := range extras {
			if !x.eq(&back, &s) {
				back = s // the extras are not words
			}
		}
		if back != s {
			t.Errorf("%s: unflatten(flatten(s)) = %+v, want %+v", name, back, s)
		}
	}
	// Every field of the compact socket's tcp_info is one of the whole's.
	core := map[string]reflect.Value{}
	leaves(reflect.ValueOf(&inetdiag.TCPCore{}).Elem(), "Info.", core)
	for name := range core {
		if _, ok := all[name]; !ok {
			t.Errorf("TCPCore has %s, which TCPInfo lacks", name)
		}
	}
}

// TestWordPairsComeFirst: a paired word is decoded from its pair's new
// value, which must be decoded before it.
func TestWordPairsComeFirst(t *testing.T) {
	for i, w := range words {
		if w.pair >= i || (w.pair >= 0 && words[w.pair].kind != w.kind) {
			t.Errorf("word %d (%s) is paired with word %d", i, w.name, w.pair)
		}
	}
}

// TestCopyExportedCoversSocket: setAttrs rebuilds a socket from a
// template and copyExported; a field it missed would be zeroed.
func TestCopyExportedCoversSocket(t *testing.T) {
	var src inetdiag.Socket
	m := map[string]reflect.Value{}
	leaves(reflect.ValueOf(&src).Elem(), "", m)
	for name, f := range m {
		if f.IsValid() {
			setNonZero(t, name, f)
		}
	}
	var dst inetdiag.Socket
	copyExported(&dst, &src)
	if dst != src {
		t.Fatalf("copyExported missed fields:\n got %+v\nwant %+v", dst, src)
	}
}

// TestSetAttrs restores attribute sets through inetdiag's decoder, for
// every attribute alone and for the sets a kernel sends.
func TestSetAttrs(t *testing.T) {
	sets := []uint32{0, 1<<inetdiag.AttrInfo | 1<<inetdiag.AttrMemInfo | 1<<inetdiag.AttrCong | 1<<inetdiag.AttrSKMemInfo | 1<<inetdiag.AttrShutdown, math.MaxUint32}
	for a := range attrBits {
		sets = append(sets, 1<<a)
	}
	for _, m := range sets {
		s := inetdiag.Socket{Family: inetdiag.FamilyInet6, Info: inetdiag.TCPCore{Len: 7, RTT: inetdiag.MicrosOf(time.Second)}, Full: &inetdiag.Full{Cong: "bbr"}}
		want := s
		if err := setAttrs(&s, m); err != nil {
			t.Fatalf("setAttrs(%#x): %v", m, err)
		}
		if got := attrsOf(&s); got != m {
			t.Errorf("setAttrs(%#x): attributes %#x", m, got)
		}
		var got, orig inetdiag.Socket // the exported fields alone
		copyExported(&got, &s)
		copyExported(&orig, &want)
		if got != orig {
			t.Errorf("setAttrs(%#x) changed exported fields: Cong %q, RTT %v, Family %v", m, s.Full.Cong, s.Info.RTT, s.Family)
		}
	}
}

// poll1 is a one-namespace poll of socks at time ms.
func poll1(ms int64, socks ...rsock) *Poll {
	return &Poll{Time: at(ms), Uncertainty: 7 * time.Millisecond, Interval: time.Second, Parts: []Part{{NS: 1, Name: "host", Socks: socketsOf(socks...)}}}
}

// TestSocketsRoundTrip runs sequences of polls through encoder and
// decoder; every decoded socket must be == to the one encoded.
func TestSocketsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	base := func(c uint64) rsock { return randomReply(rng, c).decode(t) }
	idle := func(s rsock, d time.Duration) rsock {
		if s.s.Expires != 0 {
			s.s.Expires -= d
		}
		if s.f.Info.LastDataSent != 0 {
			s.f.Info.LastDataSent += d
		}
		if s.f.Info.LastDataRecv != 0 {
			s.f.Info.LastDataRecv += d
		}
		if s.f.Info.LastAckRecv != 0 {
			s.f.Info.LastAckRecv += d
		}
		return s
	}
	a, b, c, d := base(1), base(2), base(3), base(4)
	withField := func(s rsock, f func(*rsock)) rsock { f(&s); return s }
	tests := []struct {
		name  string
		polls []*Poll
	}{
		{"empty polls", []*Poll{poll1(0), poll1(1000)}},
		{"idle with jiffy residuals", []*Poll{poll1(0, a, b, c), poll1(1000, idle(a, 1000*time.Millisecond), idle(b, 1004*time.Millisecond), idle(c, 996*time.Millisecond)), poll1(2001, idle(a, 2000*time.Millisecond), idle(b, 2004*time.Millisecond), idle(c, 2000*time.Millisecond))}},
		{"appearing and vanishing", []*Poll{poll1(0, a, b), poll1(1000, a, c, b), poll1(2000, c), poll1(3000, d, c, a), poll1(4000)}},
		{"reordered", []*Poll{poll1(0, a, b, c, d), poll1(1000, d, c, b, a), poll1(2000, b, d, a, c)}},
		{"duplicate cookies", []*Poll{poll1(0, a, a, b), poll1(1000, a, b, a, a)}},
		{"each kind of field changes", []*Poll{
			poll1(0, a, b),
			poll1(1000, withField(a, func(s *rsock) { s.f.Info.BytesAcked += 1e9; s.f.Info.BytesSent -= 5 }), b),
			poll1(2000, withField(a, func(s *rsock) { s.f.Info.RTT = 3*time.Millisecond + 7 }), withField(b, func(s *rsock) { s.s.ID.Dst = netip.MustParseAddrPort("[fe80::1%eth0]:22") })),
			poll1(3000, withField(a, func(s *rsock) { s.f.Cong = "a-new-algorithm"; s.f.V6Only = !s.f.V6Only }), withField(b, func(s *rsock) { s.f.Info.Len = 0; s.f.Info = inetdiag.TCPInfo{} })),
			poll1(4000, withField(a, func(s *rsock) {
				*s = randomReply(rng, 1).decode(t) // other attributes, other tcp_info length
			}), b),
			poll1(5000, withField(a, func(s *rsock) {
				s.s.Expires, s.f.Info.LastAckSent, s.f.Info.BusyTime = math.MinInt64, math.MaxInt64, -1
				s.f.Info.MaxPacingRate, s.f.CgroupID, s.f.Info.Len = math.MaxUint64, 0, math.MinInt
			}), b),
			poll1(6000, withField(a, func(s *rsock) {
				s.s.Expires, s.f.Info.LastAckSent, s.f.Info.BusyTime = math.MaxInt64, math.MinInt64, 1
				s.f.Info.MaxPacingRate, s.f.CgroupID, s.f.Info.Len = 0, math.MaxUint64, math.MaxInt
			}), b),
		}},
		{"clock stepped back", []*Poll{poll1(10_000, a, b), poll1(5_000, idle(a, -5*time.Second), idle(b, time.Second)), poll1(-3_600_000, idle(a, 3*time.Hour), b)}},
		{"timer expired and re-armed", []*Poll{
			poll1(0, withField(a, func(s *rsock) { s.s.Expires = 300 * time.Millisecond })),
			poll1(1000, withField(a, func(s *rsock) { s.s.Expires = 0 })),
			poll1(2000, withField(a, func(s *rsock) { s.s.Expires = 75 * time.Second })),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roundTrip(t, tt.polls, nil)
			roundTrip(t, tt.polls, func(int) bool { return true }) // every record a keyframe
		})
	}
}

// TestIdleSocketsCostNextToNothing: the point of the codec. 1000 idle
// sockets whose clocks moved by the poll interval plus a jiffy must cost
// about a byte each before compression (the residual column), and a few
// bytes in all after it.
func TestIdleSocketsCostNextToNothing(t *testing.T) {
	h := newSimHost(t, 1000, 0, 0, 3)
	polls := simPolls(t, h, 3)
	sizes := roundTrip(t, polls, nil)
	if sizes[2] > 1000+len(words)*2 {
		t.Errorf("1000 idle sockets: raw record of %d bytes, want about one byte a socket", sizes[2])
	}
	if f := appendFrame(nil, kindDelta, 0, newEncoderFor(t, polls), true); len(f) > 200 {
		t.Errorf("1000 idle sockets: %d bytes compressed, want next to nothing", len(f))
	}
}

// newEncoderFor encodes polls and returns the last raw record.
func newEncoderFor(t *testing.T, polls []*Poll) []byte {
	enc := newEncoder()
	var raw []byte
	for i, p := range polls {
		raw = enc.encode(p, i == 0)
		enc.commit(p, i == 0)
	}
	return raw
}

// TestSimulatedHostRoundTrip: the simulated host, with traffic, churn and
// TIME-WAIT, over a minute, keyframes every 20 polls.
func TestSimulatedHostRoundTrip(t *testing.T) {
	h := newSimHost(t, 3000, 0.05, 0.01, 4)
	roundTrip(t, simPolls(t, h, 60), func(i int) bool { return i%20 == 0 })
}

// TestPollFieldsRoundTrip covers everything of a poll but the sockets.
func TestPollFieldsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	s1, s2 := randomReply(rng, 10).decode(t), randomReply(rng, 11).decode(t)
	params := model.DefaultParams()
	other := params
	other.Retries2, other.Missing = 8, []string{"tcp_rto_max_ms", "tcp_syn_linear_timeouts"}
	opts := []Option{{Cookie: 10, OK: true, Opts: model.SockOpts{Known: true, KeepAlive: true, KeepIdle: 30 * time.Second, KeepIntvl: 5 * time.Second, KeepCnt: 3, UserTimeout: 20 * time.Second, RTOMax: time.Second, SynCnt: 2}}, {Cookie: 11}}
	mk := func(ms int64, f func(p *Poll)) *Poll {
		p := &Poll{Time: at(ms), Uncertainty: 3 * time.Millisecond, Interval: time.Second, Cost: 12 * time.Millisecond,
			Notices: []string{"not root"}, Parts: []Part{{NS: 4026531840, Name: "", Socks: socketsOf(s1, s2), Params: params,
				Counters: &model.Counters{EstabResets: 5, AbortOnTimeout: 1}, CountersAfter: &model.Counters{EstabResets: 6, AbortOnTimeout: 1},
				Options: opts, Owners: map[uint32]Owner{s1.s.Inode: {PID: 42, Comm: "nginx"}, s2.s.Inode: {PID: 7, Comm: "redis-server"}}}}}
		if f != nil {
			f(p)
		}
		return p
	}
	polls := []*Poll{
		mk(0, func(p *Poll) { p.State = []byte("tracker state") }),
		mk(1000, nil),
		mk(2000, func(p *Poll) {
			p.Slowed, p.Interval, p.Notices = true, 3*time.Second, append(p.Notices, "some processes' sockets are unreadable")
			p.Parts[0].Params, p.Parts[0].Counters, p.Parts[0].CountersAfter = other, &model.Counters{EstabResets: 2}, nil
			p.Parts[0].Options = opts[1:]
			delete(p.Parts[0].Owners, s2.s.Inode)
			p.Parts[0].Owners[s1.s.Inode] = Owner{PID: 43, Comm: "nginx"}
		}),
		mk(3000, func(p *Poll) {
			p.Notices, p.State = nil, []byte{}
			p.Parts[0].Counters, p.Parts[0].Owners, p.Parts[0].Options = nil, nil, nil
			p.Parts = append(p.Parts, Part{NS: 9, Name: "pod web-1", Socks: socketsOf(s2), Params: other})
		}),
		mk(4000, func(p *Poll) {
			p.Parts = []Part{{NS: 9, Name: "pod web-1 (renamed)", Socks: socketsOf(s2), Params: other}, p.Parts[0]}
		}),
		mk(5000, nil),
	}
	roundTrip(t, polls, nil)
	roundTrip(t, polls, func(i int) bool { return i == 3 })
}

// TestOptionSourceAnswersAsRecorded: what RecordOptions saw, OptionSource
// gives back.
func TestOptionSourceAnswersAsRecorded(t *testing.T) {
	var pt Part
	live := func(s *inetdiag.Socket) (model.SockOpts, bool) {
		return model.SockOpts{Known: true, KeepCnt: int(s.ID.Cookie)}, s.ID.Cookie%2 == 0
	}
	rec := pt.RecordOptions(live)
	socks := []inetdiag.Socket{{ID: inetdiag.SockID{Cookie: 1}}, {ID: inetdiag.SockID{Cookie: 2}}}
	for i := range socks {
		rec(&socks[i])
	}
	replay := pt.OptionSource()
	for i := range socks {
		wo, wok := live(&socks[i])
		if o, ok := replay(&socks[i]); o != wo || ok != wok {
			t.Errorf("cookie %d: replay gave %+v %v, live %+v %v", socks[i].ID.Cookie, o, ok, wo, wok)
		}
	}
	if o, ok := replay(&inetdiag.Socket{ID: inetdiag.SockID{Cookie: 3}}); ok || o != (model.SockOpts{}) {
		t.Errorf("a cookie never asked: %+v %v, want none", o, ok)
	}
}

// TestDurationTokens covers every mode of the duration encoding.
func TestDurationTokens(t *testing.T) {
	cases := []struct{ pred, cur, unit time.Duration }{
		{0, 0, time.Millisecond}, {1000 * time.Millisecond, 1004 * time.Millisecond, time.Millisecond},
		{time.Hour, 3 * time.Millisecond, time.Millisecond}, {time.Second, time.Second + 1, time.Millisecond},
		{math.MinInt64, math.MaxInt64, time.Microsecond}, {math.MaxInt64, math.MinInt64, time.Millisecond},
		{-time.Second, time.Second, time.Microsecond}, {5, -5, time.Millisecond},
	}
	for _, c := range cases {
		var w wbuf
		putDur(&w, c.pred, c.cur, c.unit)
		putAbsDur(&w, c.cur, c.unit)
		r := rbuf{b: w.b}
		if got := getDur(&r, c.pred, c.unit); got != c.cur {
			t.Errorf("putDur(%d, %d, %v) read back %d", c.pred, c.cur, c.unit, got)
		}
		if got := getAbsDur(&r, c.unit); got != c.cur {
			t.Errorf("putAbsDur(%d, %v) read back %d", c.cur, c.unit, got)
		}
		if r.end("tokens"); r.err != nil {
			t.Errorf("%+v: %v", c, r.err)
		}
	}
}
