package sockowner

import (
	"sync"
	"time"
)

// DefaultOptionsMaxAge is how long OptionsCache trusts a reading. Options are
// set once, right after socket creation, by nearly every application.
const DefaultOptionsMaxAge = 30 * time.Second

// OptionsCache remembers ReadOptions results per socket cookie, so that a
// poll duplicates descriptors only for sockets it has not read recently.
// Callers ask only for the sockets they show or flag. Failures are cached
// too: a socket whose owner may not be read is not retried on every poll.
// Its methods are safe for concurrent use.
type OptionsCache struct {
	// MaxAge is how long a reading is reused; zero re-reads every time.
	MaxAge time.Duration

	mu      sync.Mutex
	entries map[uint64]*cachedOptions
	read    func(Owner, uint64) (Options, error) // ReadOptions; replaced in tests
}

type cachedOptions struct {
	owner      Owner
	opts       Options
	err        error
	read, used time.Time
}

// NewOptionsCache returns an empty cache that re-reads a socket's options at
// most once per maxAge.
func NewOptionsCache(maxAge time.Duration) *OptionsCache {
	return &OptionsCache{MaxAge: maxAge, entries: make(map[uint64]*cachedOptions), read: ReadOptions}
}

// Get returns the options of the socket with the given cookie, reading them
// through owner when the cookie is new, when the last reading is MaxAge old,
// or when the last reading failed and owner differs from the one it used
// (the index has found the socket's real owner since). The error is
// ReadOptions's.
func (c *OptionsCache) Get(owner Owner, cookie uint64, now time.Time) (Options, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[cookie]; e != nil && now.Sub(e.read) < c.MaxAge &&
		(e.err == nil || e.owner.PID == owner.PID && e.owner.FD == owner.FD) {
		e.used = now
		return e.opts, e.err
	}
	opts, err := c.read(owner, cookie)
	c.entries[cookie] = &cachedOptions{owner: owner, opts: opts, err: err, read: now, used: now}
	return opts, err
}

// Prune forgets the sockets not asked for since before cutoff (closed or no
// longer shown) and returns how many it dropped.
func (c *OptionsCache) Prune(cutoff time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, e := range c.entries {
		if e.used.Before(cutoff) {
			delete(c.entries, k)
			n++
		}
	}
	return n
}

// Len returns the number of sockets cached.
func (c *OptionsCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
