package crashlab

import (
	"net"
	"time"
)

// Exchange sends three pings from the client and three pongs back, so
// that the kernel has measured the round-trip time (and set the RTO from
// it) before a test kills the peer.
func (p *Pair) Exchange() error {
	buf := make([]byte, 4)
	for range 3 {
		if _, err := p.Client.Write([]byte("ping")); err != nil {
			return err
		}
		if _, err := p.Server.Read(buf); err != nil {
			return err
		}
		if _, err := p.Server.Write([]byte("pong")); err != nil {
			return err
		}
		if _, err := p.Client.Read(buf); err != nil {
			return err
		}
	}
	return nil
}

// Outcome is when and how an application learnt of its connection's end.
type Outcome struct {
	At  time.Time
	Err error
}

// AwaitError reads from c until the kernel reports an error (the abort a
// test waits for) and sends when it came.
func AwaitError(c *net.TCPConn) <-chan Outcome {
	ch := make(chan Outcome, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				ch <- Outcome{time.Now(), err}
				return
			}
		}
	}()
	return ch
}
