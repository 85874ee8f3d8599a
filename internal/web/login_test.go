package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/lianlu/lianlu/internal/web"
)

// clientFrom is a browser whose connections come from localIP, a loopback
// address other than 127.0.0.1: another client address as the console
// sees it.
func (e *env) clientFrom(lang, localIP string) *client {
	c := e.client(lang)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	c.http.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// signIn posts the login form from c and returns the status and
// Retry-After.
func (c *client) signIn(t *testing.T, user, pw string) (int, string) {
	t.Helper()
	_, page := c.do("GET", "/login", nil)
	res, _ := c.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "username": {user}, "password": {pw}})
	return res.StatusCode, res.Header.Get("Retry-After")
}

// Failures lock the attempts, not the owner: an attacker who fails ten
// times at one address is refused there (429 with Retry-After), while the
// owner signs in at once from another address.
func TestLogin_AttackerElsewhereCannotLockOwnerOut(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	e := newEnvWith(t, "", func(cfg *web.Config) {
		cfg.Now = func() time.Time { return now }
	})
	attacker, owner := e.clientFrom("en", "127.0.0.1"), e.clientFrom("en", "127.0.0.2")
	for i := range 10 {
		if got, _ := attacker.signIn(t, "agent", "guess-"+strconv.Itoa(i)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, got)
		}
	}
	got, retry := attacker.signIn(t, "agent", "guess-10")
	if n, _ := strconv.Atoi(retry); got != http.StatusTooManyRequests || n < 1 {
		t.Fatalf("eleventh guess: %d, Retry-After %q", got, retry)
	}
	if got, _ := owner.signIn(t, "agent", password); got != http.StatusSeeOther {
		t.Fatalf("the owner elsewhere after the attacker's failures: %d, want signed in", got)
	}
	// The attacker's address stays refused, unchecked even with the right
	// password.
	got, retry = attacker.signIn(t, "Agent", password)
	if n, _ := strconv.Atoi(retry); got != http.StatusTooManyRequests || n < 1 {
		t.Fatalf("the attacker's address afterwards: %d, Retry-After %q", got, retry)
	}
}

// Failures from many addresses together use up a slower per-user limit,
// which delays every further attempt on that account but refuses none:
// the owner still signs in, after the delay.
func TestLogin_DistributedGuessingIsDelayedNotLocked(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var delays []time.Duration
	e := newEnvWith(t, "", func(cfg *web.Config) {
		cfg.Now = func() time.Time { return now }
		cfg.LoginUserRate, cfg.LoginUserBurst, cfg.LoginUserDelay = rate.Every(time.Hour), 4, 3*time.Second
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			return nil
		}
	})
	delayed := func() int { mu.Lock(); defer mu.Unlock(); return len(delays) }
	// Four addresses fail once each: the per-user limit is used up, with
	// no delay so far.
	for i := 1; i <= 4; i++ {
		c := e.clientFrom("en", "127.0.1."+strconv.Itoa(i))
		if got, _ := c.signIn(t, "agent", "guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess from address %d: %d", i, got)
		}
	}
	if n := delayed(); n != 0 {
		t.Fatalf("%d attempts delayed within the per-user limit", n)
	}
	// A fifth address is delayed, and its wrong guess still fails.
	if got, _ := e.clientFrom("en", "127.0.1.5").signIn(t, "agent", "guess"); got != http.StatusUnauthorized || delayed() != 1 {
		t.Fatalf("guess over the per-user limit: %d, %d delays", got, delayed())
	}
	// The owner is delayed too, but signs in.
	if got, _ := e.clientFrom("en", "127.0.2.1").signIn(t, "agent", password); got != http.StatusSeeOther {
		t.Fatalf("the owner over the per-user limit: %d, want signed in", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delays) != 2 || delays[0] != 3*time.Second || delays[1] != 3*time.Second {
		t.Fatalf("delays %v", delays)
	}
}
