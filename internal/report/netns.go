package report

import (
	"strings"

	"github.com/tcpwatch/tcpwatch/model"
)

// NetNSFields name a connection's or an event's network namespace when
// tcpwatch watches all of them (--all-netns); without it they are absent.
type NetNSFields struct {
	// NetNS is the namespace's label: its `ip netns` name exactly, else
	// the pod as namespace/name, the container, comm[pid] of its first
	// process, or "host".
	NetNS string `json:"netns,omitempty"`
	// NetNSInode is its nsfs inode, as in "net:[INODE]" (ls -l
	// /proc/PID/ns/net): with the cookie, the connection's identity.
	NetNSInode uint64 `json:"netns_inode,omitempty"`
	// Pod ("namespace/name") and Container, when known.
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
}

func netnsFields(ns *model.NetNS) NetNSFields {
	if ns == nil {
		return NetNSFields{}
	}
	return NetNSFields{NetNS: ns.Name, NetNSInode: ns.Inode, Pod: ns.Pod, Container: ns.Container}
}

// hasNetNS reports whether the snapshot's rows carry namespaces (then the
// table has a NetNS column).
func hasNetNS(snap *model.Snapshot) bool {
	for i := range snap.Rows {
		if snap.Rows[i].NetNS != nil {
			return true
		}
	}
	return false
}

// netnsName is a row's namespace in a table cell: no spaces, so that the
// columns split on blanks.
func netnsName(ns *model.NetNS) string {
	if ns == nil {
		return "-"
	}
	return strings.ReplaceAll(ns.Name, " ", "_")
}
