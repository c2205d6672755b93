// Package inetdiag is a sock_diag (inet_diag) netlink client for TCP sockets.
//
// It asks the kernel for every TCP socket of a network namespace, with the
// diag timer fields and the extensions a watcher needs (struct tcp_info,
// memory counters, congestion control, shutdown state), and decodes the
// replies into typed Go values. Filters are compiled to the kernel's
// INET_DIAG_REQ_BYTECODE so that unwanted sockets never cross into user
// space, exactly as ss(8) does for "sport = :443" or "dst 10.0.0.0/8".
//
// The package holds no policy: it does not classify, predict or print. It
// decodes any length of struct tcp_info (old kernels send less, newer ones
// may send more) and records how much was sent, so that a missing field is
// never confused with a zero.
//
// Decoding never panics on malformed input: every length is checked before
// it is used, and problems are returned as errors that say what was wrong.
package inetdiag
