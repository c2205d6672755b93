package model

// A second, deliberately naive rendition of the kernel rules the model
// encodes, used to compute test expectations independently of the code
// under test. Everything here counts in jiffies on an absolute jiffy grid,
// as the kernel does, and follows the C source it names line by line:
// no lateness modelling, no windows, just the kernel's deterministic
// behaviour for one given phase of the jiffy counter. Tests enumerate the
// phases that cannot be seen from outside and compare the model's windows
// with the set of outcomes.

import (
	"math/bits"
	"time"
)

// kern is a kernel with a tick rate.
type kern struct{ hz int64 }

// jiffy is one tick.
func (k kern) jiffy() time.Duration { return time.Second / time.Duration(k.hz) }

// ms is jiffies_to_msecs() for an HZ that divides 1000.
func (k kern) ms(j int64) int64 { return j * (1000 / k.hz) }

// j is msecs_to_jiffies(): rounds up.
func (k kern) j(ms int64) int64 {
	per := 1000 / k.hz
	return (ms + per - 1) / per
}

// dur converts jiffies to a duration.
func (k kern) dur(j int64) time.Duration { return time.Duration(j) * k.jiffy() }

// at is the instant of absolute jiffy j, with jiffy 0 at base.
func (k kern) at(base time.Time, j int64) time.Time { return base.Add(k.dur(j)) }

// fire is when a timer_list armed at jiffy now for d jiffies runs
// (kernel/time/timer.c): calc_wheel_index() picks the level from the delta
// (LVL_START(n) = 63 << 3(n-1)), calc_index() rounds the expiry up to the
// next bucket of that level: expires = (expires >> LVL_SHIFT(lvl)) + 1,
// bucket_expiry = expires << LVL_SHIFT(lvl). The timer runs when the wheel
// clock reaches the bucket.
func (k kern) fire(now, d int64) int64 {
	shift := k.shift(d)
	return (((now + d) >> shift) + 1) << shift
}

// gran is the granularity of the wheel level a timer armed d ahead lands in.
func (k kern) gran(d int64) int64 { return 1 << k.shift(d) }

// shift is LVL_SHIFT() of the level calc_wheel_index() picks for delta d.
func (k kern) shift(d int64) uint {
	var lvl uint
	switch {
	case d < 63:
		lvl = 0
	case d < 63<<3:
		lvl = 1
	case d < 63<<6:
		lvl = 2
	case d < 63<<9:
		lvl = 3
	case d < 63<<12:
		lvl = 4
	case d < 63<<15:
		lvl = 5
	case d < 63<<18:
		lvl = 6
	default:
		lvl = 7
	}
	return 3 * lvl
}

// refModelTimeoutMs is tcp_model_timeout() (net/ipv4/tcp_timer.c) in its
// own units: rto_base and rto_max in jiffies, the result through
// jiffies_to_msecs().
//
//	linear_backoff_thresh = ilog2(tcp_rto_max(sk) / rto_base);
//	if (boundary <= linear_backoff_thresh)
//		timeout = ((2 << boundary) - 1) * rto_base;
//	else
//		timeout = ((2 << linear_backoff_thresh) - 1) * rto_base +
//			(boundary - linear_backoff_thresh) * tcp_rto_max(sk);
//	return jiffies_to_msecs(timeout);
func (k kern) refModelTimeoutMs(boundary uint, rtoBaseJ, rtoMaxJ int64) int64 {
	thresh := uint(bits.Len64(uint64(rtoMaxJ/rtoBaseJ))) - 1 // ilog2
	var timeout int64
	if boundary <= thresh {
		timeout = ((2 << boundary) - 1) * rtoBaseJ
	} else {
		timeout = ((2<<thresh)-1)*rtoBaseJ + int64(boundary-thresh)*rtoMaxJ
	}
	return k.ms(timeout)
}

// rtoRun is one retransmission episode as the kernel runs it: fires[0] is
// the first RTO (S = retrans_stamp), fires[i] the i+1-th firing of the
// retransmission timer, and fires[abort] the firing at which
// tcp_write_timeout() gives up. armed[i] is what the timer was armed with
// after firing i (after out_reset_timer and the user-timeout clamp), rto[i]
// the icsk_rto in force when firing i runs.
type rtoRun struct {
	k     kern
	fires []int64
	armed []int64
	rto   []int64
	abort int
}

// rtoSpec describes an episode.
type rtoSpec struct {
	r0     int64 // icsk_rto when the first RTO fires (jiffies)
	rtoMax int64 // tcp_rto_max(sk) (jiffies)
	// budgetMs is the timeout retransmits_timed_out() applies at a firing
	// where icsk_rto is rto (tcp_model_timeout of the retry limit).
	budgetMs func(rto int64) int64
	userMs   int64 // TCP_USER_TIMEOUT (0: unset)
	// syn: count-based SYN_SENT rule on top (max_retransmits), linear the
	// tcp_syn_linear_timeouts.
	syn         bool
	synMaxRetr  int
	synLinear   int
	synBudgetMs int64
}

// simulateRTO runs tcp_retransmit_timer() from the first RTO at jiffy s
// (for SYN_SENT: from the SYN sent at jiffy s, fires[0] being the first
// SYN retransmission timer).
//
//	tcp_write_timeout(): if icsk_retransmits && now - retrans_stamp >= T: abort
//	tcp_update_rto_stats(): icsk_retransmits++, total_rto++
//	out_reset_timer: icsk_backoff++; icsk_rto = min(icsk_rto << 1, rto_max)
//	  (SYN_SENT: only once total_rto > tcp_syn_linear_timeouts)
//	timer = tcp_clamp_rto_to_user_timeout(): min(icsk_rto,
//	  msecs_to_jiffies(user_timeout - elapsed)), 1 jiffy if passed.
func (k kern) simulateRTO(s int64, spec rtoSpec) rtoRun {
	r := rtoRun{k: k, abort: -1}
	var f int64
	n := 0 // icsk_retransmits
	rto := spec.r0
	stamp := s // retrans_stamp
	if spec.syn {
		f = k.fire(s, spec.r0) // the SYN timer, armed when the SYN left
	} else {
		f = s
	}
	for i := 0; i < 400; i++ {
		r.fires = append(r.fires, f)
		r.rto = append(r.rto, rto)
		elapsed := k.ms(f - stamp)
		expired := false
		if spec.syn && n >= spec.synMaxRetr {
			expired = true
		}
		if !expired && n > 0 {
			T := spec.userMs
			if T == 0 {
				if spec.syn {
					T = spec.synBudgetMs
				} else {
					T = spec.budgetMs(rto)
				}
			}
			expired = elapsed-T >= 0
		}
		if expired {
			r.abort = i
			r.armed = append(r.armed, 0)
			return r
		}
		n++
		if !spec.syn || n > spec.synLinear {
			rto = min(rto<<1, spec.rtoMax)
		}
		d := rto
		if spec.userMs > 0 {
			if rem := spec.userMs - k.ms(f-stamp); rem <= 0 {
				d = 1
			} else {
				d = min(rto, k.j(rem))
			}
		}
		r.armed = append(r.armed, d)
		f = k.fire(f, d)
	}
	return r
}

// retransmitted is how many retransmissions were sent before the abort.
func (r rtoRun) retransmitted() int { return r.abort }

// sampleAt builds the diag view of a synchronized socket in the episode at
// jiffy t (fires[0] <= t < fires[abort]): what inet_diag and tcp_info show.
func (r rtoRun) sampleAt(t int64, withStats bool) (n int, rto, lastDataSent, expires, totalRTOTime time.Duration) {
	k := r.k
	for n < r.abort && r.fires[n] <= t {
		n++
	}
	last := r.fires[n-1]
	// tcpi_rto is icsk_rto after the last out_reset_timer (not the clamped
	// timer); the pending expiry is last + armed (idiag_expires).
	rto = k.dur(r.rto[n])
	lastDataSent = k.dur(t - last)
	expires = k.dur(last + r.armed[n-1] - t)
	if withStats {
		totalRTOTime = k.dur(t - r.fires[0])
	}
	return
}

// kaSpec is a keepalive setting (tcp_keepalive_timer): idle and intvl in
// jiffies, the probe count, TCP_USER_TIMEOUT in ms (0: unset).
type kaSpec struct {
	idle, intvl int64
	cnt         int
	userMs      int64
}

// simulateKeepalive runs tcp_keepalive_timer() on an idle connection whose
// last segment arrived at jiffy lastRx and whose timer was armed then for
// idle. It returns the firings; probes[i] is icsk_probes_out after firing
// i; the last firing is the abort.
//
//	elapsed = keepalive_time_elapsed(tp);        // since the last RX
//	if (elapsed >= keepalive_time_when(tp)) {
//		if ((user_timeout != 0 && elapsed >= msecs_to_jiffies(user_timeout) &&
//		     icsk->icsk_probes_out > 0) ||
//		    (user_timeout == 0 && icsk->icsk_probes_out >= keepalive_probes(tp)))
//			abort;
//		icsk->icsk_probes_out++; elapsed = keepalive_intvl_when(tp);
//	} else elapsed = keepalive_time_when(tp) - elapsed;
//	inet_csk_reset_keepalive_timer(sk, elapsed);
func (k kern) simulateKeepalive(lastRx int64, spec kaSpec) (fires []int64, probes []int) {
	f := k.fire(lastRx, spec.idle)
	out := 0
	for i := 0; i < 400; i++ {
		fires = append(fires, f)
		elapsed := f - lastRx
		next := spec.idle - elapsed
		if elapsed >= spec.idle {
			if (spec.userMs != 0 && elapsed >= k.j(spec.userMs) && out > 0) || (spec.userMs == 0 && out >= spec.cnt) {
				probes = append(probes, out)
				return fires, probes
			}
			out++
			next = spec.intvl
		}
		probes = append(probes, out)
		f = k.fire(f, next)
	}
	return nil, nil
}

// simulateProbe0 runs tcp_probe_timer() / tcp_send_probe0() from the
// firing at jiffy prev that left probesOut probes outstanding and the
// backoff at backoff; rto is icsk_rto (jiffies). The last firing returned
// is the abort (icsk_probes_out >= max_probes).
//
//	tcp_probe0_when: min(max(icsk_rto, TCP_RTO_MIN) << min(backoff, ilog2(TCP_RTO_MAX/TCP_RTO_MIN)+1), rto_max)
//	tcp_send_probe0: icsk_probes_out++; if (icsk_backoff < tcp_retries2) icsk_backoff++;
func (k kern) simulateProbe0(prev int64, probesOut, backoff int, rto, rtoMax int64, retries2, maxProbes int) (fires []int64) {
	rtoMin := k.j(200)
	when := func(b int) int64 {
		base := max(rto, rtoMin)
		shift := min(b, bits.Len64(uint64(k.j(120000)/rtoMin))-1+1)
		return min(base<<shift, rtoMax)
	}
	f := k.fire(prev, when(backoff))
	for i := 0; i < 400; i++ {
		fires = append(fires, f)
		if probesOut >= maxProbes {
			return fires
		}
		probesOut++
		if backoff < retries2 {
			backoff++
		}
		f = k.fire(f, when(backoff))
	}
	return nil
}
