// Package loadgen holds many idle loopback TCP connections, and optionally
// a steady churn of short-lived ones, inside a private network namespace,
// so that tcpwatch and its sock_diag client can be measured and tested at
// the scale of a busy host (10^4 to 10^5 sockets) without touching the
// host's own sockets.
//
// A process may hold only so many file descriptors, and each connection
// costs two (both of its ends live in the same process), so the
// connections are spread over several worker processes. Workers are the
// running binary started again with an environment variable that makes
// WorkerMain take over: a program that uses Start must call WorkerMain
// first thing in main (or in TestMain).
//
// The package needs root (it creates network namespaces) and Linux.
package loadgen
