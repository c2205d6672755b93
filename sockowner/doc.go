// Package sockowner tells which processes own a socket, and reads the
// per-socket TCP options that decide when the kernel gives up on a dead peer.
//
// sock_diag reports a socket's inode but not its process. The classic answer,
// scanning every /proc/PID/fd on every poll as ss -p does, costs a readlink per
// descriptor on the host: far too much with 100k sockets and thousands of
// processes. An Index therefore resolves only the inodes it is asked for (the
// connections being shown or flagged), caches inode → owners, revalidates a
// cached owner by re-reading that single /proc/PID/fd/FD link, and scans
// processes incrementally: new processes first, then those not scanned for a
// while, within a per-call budget, remembering when each process was last
// scanned so that sockets without a visible owner do not cause a full rescan
// on every poll.
//
// ReadOptions duplicates one descriptor of the owning process with
// pidfd_getfd(2) and asks getsockopt(2) for keepalive, user-timeout, SYN-retry
// and RTO limits, because sock_diag does not report them. OptionsCache keeps
// the answers per socket cookie so that a poll does not duplicate descriptors
// for sockets whose options were read recently.
//
// What the package must never do:
//   - modify a socket: it never calls setsockopt, shutdown or anything that
//     writes, and it refuses to duplicate a descriptor when the duplication
//     itself would rewrite the socket's net_cls/net_prio cgroup data (see
//     ErrWouldModify);
//   - hold a duplicate: every descriptor it obtains is closed before
//     ReadOptions returns, because a duplicate keeps the connection open after
//     its owner closes it, and the peer would never see the FIN;
//   - fail hard on races: processes exit and descriptors close while /proc is
//     read; such owners are simply dropped.
//
// Reading another user's /proc/PID/fd needs root (or CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH); Index.Denied counts the processes that could not be
// read so a user interface can say once that process names are incomplete.
// ReadOptions needs ptrace access (PTRACE_MODE_ATTACH_REALCREDS) to the owner;
// without it, it returns ErrPermission and callers fall back to the sysctls,
// marking the values as assumed.
package sockowner
