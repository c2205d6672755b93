package model

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestModelTimeout(t *testing.T) {
	k := kern{hz: 250}
	base := k.j(200) // TCP_RTO_MIN = HZ/5
	// The values the kernel documentation lists (ip-sysctl.rst and the
	// abort model notes); the reference must agree with them before it is
	// trusted for the other counts.
	documented := map[int]time.Duration{
		3: 3000 * time.Millisecond, 5: 12600 * time.Millisecond, 6: 25400 * time.Millisecond,
		8: 102200 * time.Millisecond, 9: 204600 * time.Millisecond, 10: 324600 * time.Millisecond,
		15: 924600 * time.Millisecond, 20: 1524600 * time.Millisecond,
	}
	type tc struct {
		name     string
		boundary int
		base     time.Duration
		rtoMax   time.Duration
		want     time.Duration
	}
	var tests []tc
	for b := 0; b <= 20; b++ {
		want := time.Duration(k.refModelTimeoutMs(uint(b), base, k.j(120000))) * time.Millisecond
		if d, ok := documented[b]; ok && d != want {
			t.Fatalf("reference tcp_model_timeout(%d) = %v, documented %v: the reference is wrong", b, want, d)
		}
		tests = append(tests, tc{fmt.Sprintf("retries2=%d", b), b, RTOMin, RTOMaxDefault, want})
	}
	// tcp_rto_max_ms=1000 moves the knee to ilog2(1000/200) = 2.
	rto1s := time.Duration(k.refModelTimeoutMs(8, base, k.j(1000))) * time.Millisecond
	if rto1s != 7400*time.Millisecond {
		t.Fatalf("reference with rto_max 1 s: %v, want 7.4 s", rto1s)
	}
	tests = append(tests, tc{"retries2=8 rto_max=1s", 8, RTOMin, time.Second, rto1s})
	for b := 0; b <= 10; b++ {
		tests = append(tests, tc{fmt.Sprintf("retries2=%d rto_max=5s", b), b, RTOMin, 5 * time.Second,
			time.Duration(k.refModelTimeoutMs(uint(b), base, k.j(5000))) * time.Millisecond})
	}
	// SYN states use tcp_timeout_init() = 1 s as the base.
	syn6 := time.Duration(k.refModelTimeoutMs(6, k.j(1000), k.j(120000))) * time.Millisecond
	if syn6 != 127*time.Second {
		t.Fatalf("reference SYN budget for 6: %v, want 127 s", syn6)
	}
	tests = append(tests, tc{"syn_retries=6 base 1s", 6, TimeoutInit, RTOMaxDefault, syn6})
	tests = append(tests, tc{"syn_retries=2 base 1s", 2, TimeoutInit, RTOMaxDefault, 7 * time.Second})
	tests = append(tests, tc{"negative boundary", -1, RTOMin, RTOMaxDefault, 0})
	tests = append(tests, tc{"zero base", 5, 0, RTOMaxDefault, 0})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ModelTimeout(tt.boundary, tt.base, tt.rtoMax); got != tt.want {
				t.Errorf("ModelTimeout(%d, %v, %v) = %v, want %v", tt.boundary, tt.base, tt.rtoMax, got, tt.want)
			}
		})
	}
}

func TestBudgets(t *testing.T) {
	p := DefaultParams()
	if got, want := p.RetransmitBudget(), 924600*time.Millisecond; got != want {
		t.Errorf("default RetransmitBudget = %v, want %v (tcp_retries2=15)", got, want)
	}
	// 7200 s idle + 9 probes × 75 s.
	if got, want := p.KeepaliveBudget(), 7875*time.Second; got != want {
		t.Errorf("default KeepaliveBudget = %v, want %v", got, want)
	}
}

func TestWheelGranularity(t *testing.T) {
	// LVL_START(n) = 63 << 3(n-1) jiffies; level n rounds to 8^n jiffies.
	tests := []struct {
		name string
		hz   int
		d    time.Duration
		want time.Duration
	}{
		{"250 zero", 250, 0, 4 * time.Millisecond},
		{"250 62 jiffies", 250, 62 * 4 * time.Millisecond, 4 * time.Millisecond},
		{"250 63 jiffies", 250, 63 * 4 * time.Millisecond, 32 * time.Millisecond},
		{"250 503 jiffies", 250, 503 * 4 * time.Millisecond, 32 * time.Millisecond},
		{"250 504 jiffies", 250, 504 * 4 * time.Millisecond, 256 * time.Millisecond},
		{"250 4031 jiffies", 250, 4031 * 4 * time.Millisecond, 256 * time.Millisecond},
		{"250 4032 jiffies", 250, 4032 * 4 * time.Millisecond, 2048 * time.Millisecond},
		{"250 120 s", 250, 120 * time.Second, 2048 * time.Millisecond},
		{"250 32255 jiffies", 250, 32255 * 4 * time.Millisecond, 2048 * time.Millisecond},
		{"250 32256 jiffies", 250, 32256 * 4 * time.Millisecond, 16384 * time.Millisecond},
		{"250 204 ms RTO", 250, 204 * time.Millisecond, 4 * time.Millisecond},
		{"250 1 s", 250, time.Second, 32 * time.Millisecond},
		{"1000 62 ms", 1000, 62 * time.Millisecond, time.Millisecond},
		{"1000 63 ms", 1000, 63 * time.Millisecond, 8 * time.Millisecond},
		{"1000 503 ms", 1000, 503 * time.Millisecond, 8 * time.Millisecond},
		{"1000 504 ms", 1000, 504 * time.Millisecond, 64 * time.Millisecond},
		{"1000 4.031 s", 1000, 4031 * time.Millisecond, 64 * time.Millisecond},
		{"1000 4.032 s", 1000, 4032 * time.Millisecond, 512 * time.Millisecond},
		{"1000 32.255 s", 1000, 32255 * time.Millisecond, 512 * time.Millisecond},
		{"1000 32.256 s", 1000, 32256 * time.Millisecond, 4096 * time.Millisecond},
		{"1000 120 s", 1000, 120 * time.Second, 4096 * time.Millisecond},
		{"1000 258.047 s", 1000, 258047 * time.Millisecond, 4096 * time.Millisecond},
		{"1000 258.048 s", 1000, 258048 * time.Millisecond, 32768 * time.Millisecond},
		{"unknown HZ is 250", 0, 63 * 4 * time.Millisecond, 32 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Params{HZ: tt.hz}
			if got := p.WheelGranularity(tt.d); got != tt.want {
				t.Errorf("HZ=%d WheelGranularity(%v) = %v, want %v", tt.hz, tt.d, got, tt.want)
			}
		})
	}
}

func TestJiffy(t *testing.T) {
	tests := []struct {
		hz   int
		want time.Duration
	}{{250, 4 * time.Millisecond}, {1000, time.Millisecond}, {100, 10 * time.Millisecond}, {0, 4 * time.Millisecond}, {-3, 4 * time.Millisecond}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.hz), func(t *testing.T) {
			if got := (Params{HZ: tt.hz}).Jiffy(); got != tt.want {
				t.Errorf("Jiffy at HZ=%d = %v, want %v", tt.hz, got, tt.want)
			}
		})
	}
}

// TestLatenessMeasured checks the deterministic alignment rule against the
// delays measured on a 6.18 kernel at HZ=250 (the README records the
// measurement, medians over 20 connections): TCP re-arms its timer from the firing, which lands on a
// multiple of the wheel granularity of the interval it was armed with, so
// the next lateness is known exactly when the next level is not coarser.
func TestLatenessMeasured(t *testing.T) {
	p := Params{HZ: 250}
	j := p.Jiffy()
	tests := []struct {
		name  string
		prev  time.Duration // interval that armed the previous firing
		d     time.Duration
		exact time.Duration // measured lateness
	}{
		{"1.632 s after 816 ms", 816 * time.Millisecond, 1632 * time.Millisecond, 32 * time.Millisecond},
		{"6.528 s after 3.264 s", 3264 * time.Millisecond, 6528 * time.Millisecond, 128 * time.Millisecond},
		{"13.056 s after 6.528 s", 6528 * time.Millisecond, 13056 * time.Millisecond, 256 * time.Millisecond},
		{"1 s rto_max after 1 s", time.Second, time.Second, 24 * time.Millisecond},
		{"120 s after 120 s", 120 * time.Second, 120 * time.Second, 832 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			align := int64(p.WheelGranularity(tt.prev) / j)
			lo, mean, hi, next := p.lateness(tt.d, align)
			// The code allows one jiffy of slack on the late side for the
			// softirq and the jiffy-rounded expiry inet_diag reports.
			if lo != tt.exact || hi != tt.exact+j {
				t.Errorf("lateness(%v, align %d) = [%v, %v], want [%v, %v] (measured %v + one jiffy of slack)", tt.d, align, lo, hi, tt.exact, tt.exact+j, tt.exact)
			}
			if mean < lo || mean > hi {
				t.Errorf("mean %v outside [%v, %v]", mean, lo, hi)
			}
			if want := int64(p.WheelGranularity(tt.d) / j); next != want {
				t.Errorf("alignment after the firing = %d jiffies, want the interval's granularity %d", next, want)
			}
		})
	}
}

// TestLatenessBruteForce compares lateness with the kernel's rounding
// applied to every arming instant that is a multiple of the alignment.
func TestLatenessBruteForce(t *testing.T) {
	for _, hz := range []int64{250, 1000} {
		k := kern{hz: hz}
		p := Params{HZ: int(hz)}
		j := p.Jiffy()
		intervals := []int64{1, 5, 51, 62, 63, 100, 102, 200, 204, 250, 408, 500, 503, 504, 816, 1000, 1632, 3264, 4031, 4032, 6528, 13056, 25600, 30000, 32255, 32256, 120000}
		aligns := []int64{0, 1, 8, 64, 512, 4096}
		for _, dj := range intervals {
			for _, align := range aligns {
				name := fmt.Sprintf("HZ=%d d=%dj align=%d", hz, dj, align)
				t.Run(name, func(t *testing.T) {
					step := align
					if step <= 0 {
						step = 1 // unknown: any arming instant
					}
					minL, maxL := int64(1<<62), int64(-1)
					for m := int64(0); m < 32768/step+1; m++ {
						a := 100000*32768 + m*step
						l := k.fire(a, dj) - (a + dj)
						minL, maxL = min(minL, l), max(maxL, l)
					}
					lo, mean, hi, next := p.lateness(k.dur(dj), align)
					g := k.gran(dj)
					if align == 0 || align == 1 {
						// Unknown alignment: [1 jiffy, g].
						if lo != j || hi != k.dur(g)+j {
							t.Errorf("lateness = [%v, %v], want [%v, %v] (+1 jiffy slack)", lo, hi, j, k.dur(g))
						}
					}
					if lo > k.dur(minL) {
						t.Errorf("lo %v above the kernel's earliest lateness %v", lo, k.dur(minL))
					}
					if hi < k.dur(maxL) {
						t.Errorf("hi %v below the kernel's latest lateness %v", hi, k.dur(maxL))
					}
					if align > 1 && (lo != k.dur(minL) || hi-k.dur(maxL) > j) {
						t.Errorf("lateness = [%v, %v], kernel gives [%v, %v]: not tight", lo, hi, k.dur(minL), k.dur(maxL))
					}
					if mean < lo || mean > hi {
						t.Errorf("mean %v outside [%v, %v]", mean, lo, hi)
					}
					if next != g {
						t.Errorf("next alignment %d, want %d", next, g)
					}
				})
			}
		}
	}
}

func TestParseParams(t *testing.T) {
	full := map[string]string{
		"tcp_retries1": "3", "tcp_retries2": "5", "tcp_orphan_retries": "2", "tcp_syn_retries": "4",
		"tcp_synack_retries": "3", "tcp_syn_linear_timeouts": "0", "tcp_keepalive_time": "60\n",
		"tcp_keepalive_intvl": "10", "tcp_keepalive_probes": "4", "tcp_rto_min_us": "5000", "tcp_rto_max_ms": "60000",
	}
	fullWant := Params{
		Retries1: 3, Retries2: 5, OrphanRetries: 2, SynRetries: 4, SynackRetries: 3, SynLinearTimeouts: 0,
		KeepaliveTime: time.Minute, KeepaliveIntvl: 10 * time.Second, KeepaliveProbes: 4,
		RTOMinSysctl: 5 * time.Millisecond, RTOMax: time.Minute, HZ: 1000,
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	without := func(names ...string) map[string]string {
		m := with()
		for _, n := range names {
			delete(m, n)
		}
		return m
	}
	errIO := errors.New("input/output error")
	tests := []struct {
		name     string
		files    map[string]string
		failing  map[string]error
		hz       int
		want     *Params
		wantMiss []string
		wantErr  []string // substrings of the error
		wantIs   error
	}{
		{name: "all present", files: full, hz: 1000, want: &fullWant},
		{name: "pre-6.15 kernel", files: without("tcp_rto_max_ms", "tcp_rto_min_us"), hz: 250,
			want: func() *Params {
				p := fullWant
				p.RTOMax, p.RTOMinSysctl, p.HZ = 120*time.Second, 200*time.Millisecond, 250
				return &p
			}(), wantMiss: []string{"tcp_rto_min_us", "tcp_rto_max_ms"}},
		// 6.1: the SYN RTO doubles from the first timeout (no linear
		// ones), whatever the default of the kernels that have the knob.
		{name: "6.12 kernel, linear timeouts", files: with("tcp_syn_linear_timeouts", "4"), hz: 250,
			want: func() *Params { p := fullWant; p.SynLinearTimeouts, p.HZ = 4, 250; return &p }()},
		{name: "6.1 kernel", files: without("tcp_syn_linear_timeouts", "tcp_rto_max_ms", "tcp_rto_min_us"), hz: 250,
			want: func() *Params {
				p := fullWant
				p.SynLinearTimeouts, p.RTOMax, p.RTOMinSysctl, p.HZ = 0, 120*time.Second, 200*time.Millisecond, 250
				return &p
			}(), wantMiss: []string{"tcp_syn_linear_timeouts", "tcp_rto_min_us", "tcp_rto_max_ms"}},
		{name: "nothing readable", files: map[string]string{}, hz: 0,
			want: func() *Params { p := DefaultParams(); p.SynLinearTimeouts = 0; return &p }(), wantMiss: Sysctls},
		{name: "garbage", files: with("tcp_retries2", "fifteen"), wantErr: []string{"tcp_retries2", "fifteen"}},
		{name: "negative", files: with("tcp_keepalive_probes", "-1"), wantErr: []string{"tcp_keepalive_probes"}},
		{name: "empty", files: with("tcp_syn_retries", ""), wantErr: []string{"tcp_syn_retries"}},
		{name: "read error", files: full, failing: map[string]error{"tcp_orphan_retries": errIO}, wantErr: []string{"tcp_orphan_retries"}, wantIs: errIO},
		{name: "permission denied is not missing", files: full, failing: map[string]error{"tcp_retries2": fs.ErrPermission}, wantErr: []string{"tcp_retries2"}, wantIs: fs.ErrPermission},
		{name: "rto_max below range", files: with("tcp_rto_max_ms", "999"), wantErr: []string{"tcp_rto_max_ms", "999"}},
		{name: "rto_max above range", files: with("tcp_rto_max_ms", "120001"), wantErr: []string{"tcp_rto_max_ms", "120001"}},
		{name: "rto_max bounds", files: with("tcp_rto_max_ms", "1000"), hz: 1000,
			want: func() *Params { p := fullWant; p.RTOMax = time.Second; return &p }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(name string) ([]byte, error) {
				if err, ok := tt.failing[name]; ok {
					return nil, fmt.Errorf("open /proc/sys/net/ipv4/%s: %w", name, err)
				}
				v, ok := tt.files[name]
				if !ok {
					return nil, fmt.Errorf("open /proc/sys/net/ipv4/%s: %w", name, fs.ErrNotExist)
				}
				return []byte(v), nil
			}
			got, err := ParseParams(read, tt.hz)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseParams: no error, want one naming %q", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %q does not wrap %v", err, tt.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseParams: %v", err)
			}
			want := *tt.want
			want.Missing = tt.wantMiss
			if fmt.Sprint(got.Missing) != fmt.Sprint(want.Missing) {
				t.Errorf("Missing = %v, want %v", got.Missing, want.Missing)
			}
			got.Missing, want.Missing = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseParams:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
