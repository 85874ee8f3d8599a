package webhook

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: after the n-th failed
// attempt the next one waits a uniformly random time in
// [0, min(Cap, Base·2^(n−1))). Full jitter spreads the retries of many
// deliveries that failed together (a receiver's outage) instead of sending
// them back in waves.
type Backoff struct {
	Base time.Duration
	Cap  time.Duration
	// Rand returns a number in [0, 1); default math/rand/v2.
	Rand func() float64
}

// Delay returns the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	ceiling := b.Ceiling(attempt)
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(ceiling))
}

// Ceiling returns min(Cap, Base·2^(attempt−1)), the bound of Delay.
func (b Backoff) Ceiling(attempt int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < attempt; i++ {
		if b.Cap > 0 && d >= b.Cap {
			break
		}
		if d > time.Duration(1<<62) {
			break
		}
		d *= 2
	}
	if b.Cap > 0 && d > b.Cap {
		d = b.Cap
	}
	return d
}
