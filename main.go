// Command tcpwatch shows TCP connections whose peer has silently died and
// counts down to the moment the kernel will abort them.
package main

func main() {}
