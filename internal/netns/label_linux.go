package netns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxLabelPIDs bounds the processes whose cgroup is read to label one
// namespace: a pod's are few, and a host-sized namespace is "host".
const maxLabelPIDs = 32

// LabelOf names a namespace. pods maps pod UIDs to pods (ReadPods).
func LabelOf(r Roots, ns *Namespace, pods map[string]Pod) Label {
	switch {
	case ns.Host:
		return Label{Name: "host"}
	case ns.Named != "":
		return Label{Name: ns.Named}
	}
	var l Label
	var found []Container
	for i, pid := range ns.PIDs {
		if i == maxLabelPIDs {
			break
		}
		b, err := os.ReadFile(filepath.Join(r.Proc, strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue
		}
		if c, ok := ParseCgroup(b); ok && !containsID(found, c.ID) {
			found = append(found, c)
		}
	}
	for _, c := range found {
		if c.PodUID == "" {
			continue
		}
		if p, ok := pods[c.PodUID]; ok {
			l.Pod = p.String()
		} else {
			l.Pod, l.Guessed = "pod "+c.PodUID, true
		}
		break
	}
	if len(found) == 1 {
		c := found[0]
		l.Container = string(c.Runtime) + ":" + c.ShortID()
		if c.Runtime == Docker {
			if n := DockerName(r.Containers, c.ID); n != "" {
				l.Container = n
			}
		}
	}
	switch {
	case l.Pod != "":
		l.Name = l.Pod
	case l.Container != "":
		l.Name = l.Container
	case ns.DockerNetns != "":
		l.Name = "docker:" + ns.DockerNetns
	case len(ns.PIDs) > 0:
		comm, _ := os.ReadFile(filepath.Join(r.Proc, strconv.Itoa(ns.PIDs[0]), "comm"))
		l.Name = strings.TrimSpace(string(comm)) + "[" + strconv.Itoa(ns.PIDs[0]) + "]"
		l.Guessed = true
	default:
		l.Name = "netns:" + strconv.FormatUint(ns.ID.Inode, 10)
	}
	return l
}

func containsID(cs []Container, id string) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}
