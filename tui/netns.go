// What the interface shows of network namespaces when several are
// watched (--all-netns): the NETNS column, the namespace in the detail
// view, and that namespace's own kernel parameters there.

package tui

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/model"
)

// netnsIDs are the detail view's identification of a row's namespace:
// its label, pod and container when known, and its inode.
func netnsIDs(r *model.Row) []string {
	ns := r.NetNS
	if ns == nil {
		return nil
	}
	out := []string{"netns " + ns.Name}
	if ns.Pod != "" && ns.Pod != ns.Name {
		out = append(out, "pod "+ns.Pod)
	}
	if ns.Container != "" && ns.Container != ns.Name {
		out = append(out, "container "+ns.Container)
	}
	return append(out, "net:["+strconv.FormatUint(ns.Inode, 10)+"]")
}

// params are the kernel parameters the row's predictions were made with:
// its namespace's when several are watched, else the snapshot's.
func (d *detailView) params(r *model.Row) model.Params {
	if r.NetNS != nil {
		return r.NetNS.Params
	}
	return d.ctx.params()
}

// compareNetNS orders rows by namespace label, then inode (two
// namespaces may share a label, such as two processes' comm).
func compareNetNS(a, b *model.NetNS) int {
	switch {
	case a == nil || b == nil:
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	if r := strings.Compare(a.Name, b.Name); r != 0 {
		return r
	}
	return cmp.Compare(a.Inode, b.Inode)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
