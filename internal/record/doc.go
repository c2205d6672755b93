// Package record is tcpwatch's flight recorder: it appends every poll's
// input to a compact file, and reads it back so that replay can feed the
// very same tracker and show what the connections did at 03:12.
//
// # What is recorded
//
// A Poll holds what the tracker read (the decoded sockets of each
// namespace, the poll's time and uncertainty, the kernel parameters, the
// counters, the socket options it asked for) and what the program showed
// beside it (owners, notices, the interval). Replay is exact when the
// program records a Poll for every Update and replays them in order from
// a keyframe whose State it restores: the tracker is deterministic (it
// reports the connections that vanish in one poll in cookie order), and
// everything it reads comes back equal, each socket == to the one dumped.
//
// # Writing
//
//	w, err := record.Create(dir, record.Options{Host: host})
//	...
//	// per poll, once the dump is in and before the tracker's Update:
//	p := &record.Poll{Time: now, Uncertainty: unc, Interval: iv, Parts: []record.Part{{
//		NS: id, Name: name, Socks: socks, Params: tracker.Params(), Counters: c, CountersAfter: ca}}}
//	in.Options = p.Parts[0].RecordOptions(in.Options) // records the answers the tracker gets
//	tracker.Update(in)
//	if w.KeyframeDue(now) {
//		p.State = tracker.MarshalState(now) // taken after this Update
//	}
//	// once owners are resolved: p.Parts[0].Owners, p.Notices, p.Cost, p.Slowed
//	err = w.Append(p) // copies what it needs: socks may be reused at once
//
// A recording is a directory holding a ring of segment files
// (rec-SEQ-START.twr, 0600 in a 0700 directory: they hold addresses and
// process names). The names are the index: listing the directory says
// when each segment starts, and there is no index file to rebuild or to
// fall out of step after a crash. Each segment starts with a header (host,
// namespaces, start time) and a keyframe (every socket whole, and the
// caller's State), then holds delta records: for each socket only what
// changed since the previous poll. The clocks of an idle socket ("time
// since last ACK", the timer's expiry) are stored as their residual
// against the time elapsed, 0 or a jiffy, and that residual as its change
// from the neighbouring socket's: an idle socket costs about a byte before
// compression (10^4 idle sockets: ~100 bytes a poll after it). Each record
// is framed with its length and a CRC32C and compressed with zstd. A new
// segment starts every SegmentDuration of recorded time or SegmentBytes,
// and the oldest are deleted to keep the total under MaxBytes.
//
// Each record is written with one write(2) as it is appended: a tcpwatch
// killed with SIGKILL loses at most the poll being appended, and files
// are fsync'ed at most once a second of recorded time, so a power cut
// loses at most about a second.
//
// # Reading
//
//	r, err := record.Open(path) // a directory, or one segment file
//	c, err := r.Seek(t)         // at the keyframe of the segment holding t
//	for {
//		p, err := c.Next() // io.EOF at the end
//		...
//		pt := &p.Parts[0]
//		if tracker == nil && p.State != nil { // the keyframe, taken after its Update
//			tracker, _, err = model.RestoreTracker(p.State, pt.Socks)
//			continue
//		}
//		tracker.SetParams(pt.Params)
//		tracker.Update(pt.Input(p)) // the recorded option answers included
//	}
//
// Every Poll that Next returns is its own: nothing of it is reused. To
// reach an instant, replay feeds the tracker every poll from the keyframe
// on; stepping back one poll means seeking to its segment's keyframe
// again and replaying up to the poll before. A record torn by a crash at
// the end of a segment is skipped with a Note, not an error. Other damage
// is an *Error naming the file, the offset and what was wrong; everything
// before it reads, and the next call of Next goes on with the next
// segment. A foreign file, an empty one and one of a newer format version
// each have their own error (ErrNotRecording, ErrEmpty, ErrNewerVersion).
//
// # What it must not do
//
// The package holds no model logic: it neither classifies nor predicts,
// and does not interpret State. It never reads the clock: times come in
// with the polls (fsync pacing follows them too), and no netlink or /proc
// is read. Decoding never panics on any input, and every length read from
// a file is checked before it sizes an allocation.
//
// # Exact replay needs from the program
//
// A Poll's time is stored as wall-clock nanoseconds, and a decoded time
// has no monotonic reading. time.Now's monotonic reading makes t.Sub(u)
// differ from the wall clock's difference by a few nanoseconds (the two
// clocks are read one after the other), and by any clock step in between:
// for replay to give the tracker the very same durations, the program
// should strip the monotonic reading (t.Round(0)) from the times it gives
// the tracker when recording. Replay starts exactly at a segment only if
// its keyframe carries the tracker's state (Header.HasState); otherwise it
// must start at an earlier segment that does, or accept that the first
// polls of a fresh tracker differ (first-seen times, histories).
//
// # inetdiag's attribute set
//
// inetdiag.Socket keeps the set of attributes the kernel sent (Has) in an
// unexported field. The codec records it through Has and restores it by
// decoding a synthetic reply with inetdiag.DecodeSocket (see setAttrs): an
// exported accessor pair in inetdiag, such as
//
//	func (s *Socket) Attrs() uint32     // the attribute set, bit a for Attr a
//	func (s *Socket) SetAttrs(m uint32) // for recorders and tests
//
// would replace that with two assignments.
//
// The package stores and returns polls; it must not judge them: health,
// predictions and events come from model.Tracker, live and in replay alike,
// so that a replay cannot disagree with the run it recorded.
package record
