package model

// NetNS is the network namespace a row or an event belongs to when
// several are watched at once (nil when one is). A connection is then
// identified by its namespace and its cookie: every pod has its own
// 10.x address and its own 127.0.0.1, so four-tuples repeat across
// namespaces, and kernels before 5.11 counted cookies per namespace.
// The poller makes one per namespace and shares it between that
// namespace's rows and events; it is never modified once made (a new
// label or new parameters make a new one).
type NetNS struct {
	// Inode is the namespace's nsfs inode (as in "net:[INODE]"), unique
	// on the host while it lives.
	Inode uint64
	// Name is what a person calls it: the `ip netns` name, the pod as
	// namespace/name, the container, comm[pid] of its first process, or
	// "host" for the host's own.
	Name string
	// Pod and Container are set when known.
	Pod, Container string
	// Params are the namespace's own kernel parameters, which its
	// connections' predictions use.
	Params Params
}

// Key identifies the connection of a row across namespaces: its
// namespace's inode (0 when one namespace is watched) and its cookie.
type Key struct {
	NetNS  uint64
	Cookie uint64
}

// Key returns the row's identity.
func (r *Row) Key() Key {
	k := Key{Cookie: r.Sock.ID.Cookie}
	if r.NetNS != nil {
		k.NetNS = r.NetNS.Inode
	}
	return k
}

// Key returns the identity of the connection the event is about.
func (e *Event) Key() Key {
	k := Key{Cookie: e.ID.Cookie}
	if e.NetNS != nil {
		k.NetNS = e.NetNS.Inode
	}
	return k
}
