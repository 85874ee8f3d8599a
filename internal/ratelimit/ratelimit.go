// Package ratelimit keeps a token bucket per key (a client IP, a phone
// number, a user name and address) in bounded memory, for the public
// forms: the join page and the console's sign-in.
package ratelimit

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a token bucket per key. When it remembers max keys it forgets
// those whose bucket has refilled (forgetting them changes nothing), then,
// under a flood of new keys, arbitrary ones, which only gives those a
// fresh bucket.
type Keyed struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int
	m     map[string]*rate.Limiter
}

// New returns buckets of burst tokens refilled at limit, for at most max
// keys.
func New(limit rate.Limit, burst, max int) *Keyed {
	return &Keyed{limit: limit, burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

// Allow takes a token from key's bucket at now, reporting whether there
// was one.
func (s *Keyed) Allow(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limiter(key, now).AllowN(now, 1)
}

// Has reports whether key's bucket holds a token at now, without taking
// it: for limits that only failures use up.
func (s *Keyed) Has(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	return !ok || l.TokensAt(now) >= 1
}

// Wait returns how long from now until key's bucket holds a token again:
// zero when it holds one (the value of a Retry-After).
func (s *Keyed) Wait(key string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	if !ok {
		return 0
	}
	missing := 1 - l.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	if s.limit <= 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(missing / float64(s.limit) * float64(time.Second))
}

func (s *Keyed) limiter(key string, now time.Time) *rate.Limiter {
	l, ok := s.m[key]
	if !ok {
		if len(s.m) >= s.max {
			s.evict(now)
		}
		l = rate.NewLimiter(s.limit, s.burst)
		s.m[key] = l
	}
	return l
}

func (s *Keyed) evict(now time.Time) {
	for k, l := range s.m {
		if l.TokensAt(now) >= float64(s.burst) {
			delete(s.m, k)
		}
	}
	for k := range s.m {
		if len(s.m) < s.max*9/10 {
			return
		}
		delete(s.m, k)
	}
}

// Size is how many keys are remembered.
func (s *Keyed) Size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// ClientIP is the peer address of r. Behind a proxy every client shares
// the proxy's address, so limits per IP then apply to all of them
// together.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
