package model

// The orphan rule (net/ipv4/tcp_timer.c, tcp_orphan_retries()): a socket
// the application has closed with data or its FIN unacknowledged is
// retried tcp_orphan_retries times instead of tcp_retries2, both by the
// retransmission timer (tcp_write_timeout) and by the persist timer
// (tcp_probe_timer); 0, the default, means 8 while the connection is
// "alive". The README's "How predictions work" states it; the crash lab's
// TestLabOrphan measures it. The timers themselves are modelled in rto.go
// and zerowindow.go.

import (
	"strconv"
	"time"
)

// orphanRetries is tcp_orphan_retries(): the retry count of an orphaned
// socket. alive is what the timer that asks knows of the connection: its
// RTO (for the persist timer, the backed-off probe interval) is still
// below rto_max. Then 0 means "select some safe number of retries": 8,
// more than 100 s with the minimal RTO.
func orphanRetries(p Params, alive bool) int {
	retries := p.OrphanRetries
	if retries == 0 && alive {
		retries = 8
	}
	return retries
}

// orphanBudget is the time tcp_write_timeout() gives an orphan: its retry
// count through tcp_model_timeout().
func orphanBudget(p Params, alive bool, rtoMax time.Duration) time.Duration {
	return ModelTimeout(orphanRetries(p, alive), RTOMin, rtoMax)
}

// orphanRetriesInput is the tcp_orphan_retries input of a prediction.
func orphanRetriesInput(p Params) Input {
	return Input{Name: InputOrphanRetries, Value: strconv.Itoa(p.OrphanRetries), Source: FromSysctl}
}

// orphanNote explains an orphan's retransmission budget, and what else may
// end it.
const orphanNote = "orphaned socket: tcp_orphan_retries applies (0 means 8 while the RTO is below rto_max); the kernel may also kill orphans early under memory pressure or when tcp_max_orphans is exceeded"
