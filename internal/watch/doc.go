// Package watch is tcpwatch's poller. It dumps the TCP sockets of a
// network namespace through inetdiag, reads the namespace's sysctls and
// counters, resolves owners and socket options for the connections that
// need them, feeds the model's tracker and publishes immutable snapshots
// to the interface, the --once/--json writers and the metrics exporter.
// Data flows one way: kernel → inetdiag → model → snapshot consumers.
//
// A poll (Watcher.Poll) is a short pipeline of named steps: the source's
// dump and tracker update (a source is one network namespace: its
// sock_diag socket, its kernel parameters, its tracker and the buffers its
// dumps fill), the rows, their owners, the user-space part of the filter,
// the notices, the snapshot. Watcher.Loop repeats it, stretching the
// interval when polls are slow. The kernel is reached through two small
// interfaces, a dumper and a namespace reader, so that the poller's logic
// is tested without root or sockets.
//
// What it must not do: judge the connections (health, predictions and
// events are the model's), format anything for display, read the clock
// other than through Config.Clock, take more than 1/PollShare of the time
// for its polls (Loop stretches the interval instead), or write into the
// memory of a snapshot a consumer still holds (Snapshot.Release hands it
// back).
package watch
