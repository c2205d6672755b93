package watch

// notices are the things the operator should be told once each
// (missing privileges, unknown kernel features), in the order they first
// came up. Every snapshot carries the whole list, so that a consumer that
// joins late sees them too.
type notices struct {
	list []string
	seen map[string]bool
}

// add records s unless it was said already.
func (n *notices) add(s string) {
	if n.seen[s] {
		return
	}
	if n.seen == nil {
		n.seen = map[string]bool{}
	}
	n.seen[s] = true
	n.list = append(n.list, s)
}

// all returns a copy of the list, for a snapshot.
func (n *notices) all() []string { return append([]string(nil), n.list...) }
