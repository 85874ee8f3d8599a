package ratelimit

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestKeyed_Bounded(t *testing.T) {
	s := New(rate.Every(time.Hour), 1, 100)
	now := time.Now()
	for i := range 1000 {
		s.Allow(fmt.Sprint("ip-", i), now)
	}
	if n := s.Size(); n > 100 {
		t.Fatalf("remembers %d keys, max 100", n)
	}
	if !s.Allow("fresh", now) || s.Allow("fresh", now) {
		t.Fatal("a remembered key is not limited")
	}
}

func TestKeyed_HasDoesNotTake(t *testing.T) {
	s := New(rate.Every(time.Minute), 2, 10)
	now := time.Now()
	for range 5 {
		if !s.Has("u", now) {
			t.Fatal("Has took a token")
		}
	}
	s.Allow("u", now)
	s.Allow("u", now)
	if s.Has("u", now) {
		t.Fatal("Has with an empty bucket")
	}
	if !s.Has("u", now.Add(time.Minute)) {
		t.Fatal("no token a minute later")
	}
}

func TestClientIP(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:4711"
	if got := ClientIP(r); got != "2001:db8::1" {
		t.Fatalf("ClientIP = %q", got)
	}
	r.RemoteAddr = "odd"
	if got := ClientIP(r); got != "odd" {
		t.Fatalf("ClientIP = %q", got)
	}
}

func TestKeyed_Wait(t *testing.T) {
	s := New(rate.Every(30*time.Second), 2, 10)
	now := time.Now()
	if d := s.Wait("u", now); d != 0 {
		t.Fatalf("unknown key waits %v", d)
	}
	s.Allow("u", now)
	if d := s.Wait("u", now); d != 0 {
		t.Fatalf("a token left, yet wait %v", d)
	}
	s.Allow("u", now)
	if d := s.Wait("u", now); d != 30*time.Second {
		t.Fatalf("empty bucket: wait %v, want 30s", d)
	}
	if d := s.Wait("u", now.Add(20*time.Second)); d != 10*time.Second {
		t.Fatalf("20s later: wait %v, want 10s", d)
	}
}
