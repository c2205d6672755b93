// Package model decides what the kernel will do with each TCP connection:
// whether its peer looks dead, which kernel rule will abort it, and when,
// with a window that covers what cannot be seen from outside.
//
// It follows connections across polls (Tracker), keyed by socket cookie,
// and turns each poll into immutable rows (Snapshot) for the outputs. Each
// kernel rule has its own file, holding both the evidence the rule reads
// from the samples and the schedule it predicts:
//
//   - rto.go: the retransmission timeout (tcp_retransmit_timer,
//     tcp_write_timeout: tcp_retries2 and TCP_USER_TIMEOUT);
//   - syn.go: connection attempts (SYN_SENT: tcp_syn_retries);
//   - orphan.go: orphaned sockets (tcp_orphan_retries);
//   - keepalive.go: tcp_keepalive_timer;
//   - zerowindow.go: the persist timer (tcp_probe_timer) and data in
//     flight into a zero window (tcp_rtx_probe0_timed_out);
//   - exposure.go: how long a peer's death would go unnoticed;
//   - classify.go: the health decision that picks the rule;
//   - timeline.go and simulate.go: the timer wheel (kernel/time/timer.c)
//     the expiries run on.
//
// The rules are described in the README ("How predictions work"), checked
// against a naive rendition of the kernel code in kernelref_test.go, and
// measured against real aborts by the crash lab (internal/crashlab).
//
// The package is pure and deterministic: it must do no I/O, never read
// the clock (every instant is passed in) and know nothing of netlink,
// processes or the terminal. Its inputs are decoded sockets (package
// inetdiag), the namespace's sysctls (Params; ParseParams reads them
// through a function the caller gives it) and the socket options the
// caller read (OptionSource).
package model
