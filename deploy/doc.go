// Package deploy holds what it takes to run tcpwatch on a fleet: the
// Prometheus rules (prometheus/), the Grafana dashboard (grafana/), a
// container build file, a Kubernetes DaemonSet (kubernetes/) and a systemd
// unit (systemd/). It has no code of its own: its tests check those files
// against the real tools (promtool, a Prometheus server, systemd-analyze)
// and against the tcpwatch binary, and prove end to end, in the crash lab,
// that the abort alert fires before the kernel gives up.
package deploy
