package join

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet is a token bucket per key (an IP, a phone number) in bounded
// memory: when full, it forgets keys whose bucket has refilled (forgetting
// them changes nothing), then, under a flood of new keys, arbitrary ones,
// which only gives those a fresh bucket.
type limiterSet struct {
	mu    sync.Mutex
	limit rate.Limit
	burst int
	max   int
	m     map[string]*rate.Limiter
}

func newLimiterSet(limit rate.Limit, burst, max int) *limiterSet {
	return &limiterSet{limit: limit, burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

// allow takes a token from key's bucket at now.
func (s *limiterSet) allow(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.m[key]
	if !ok {
		if len(s.m) >= s.max {
			s.evict(now)
		}
		l = rate.NewLimiter(s.limit, s.burst)
		s.m[key] = l
	}
	return l.AllowN(now, 1)
}

func (s *limiterSet) evict(now time.Time) {
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

// size is how many keys are remembered.
func (s *limiterSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
