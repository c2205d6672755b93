module github.com/tcpwatch/tcpwatch

go 1.26.8

require (
	github.com/mdlayher/netlink v1.11.2
	golang.org/x/sys v0.49.0
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/mdlayher/socket v0.8.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
)
