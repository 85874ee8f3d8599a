package sla

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// maxClosedDays bounds the search for the next opening, so that a calendar
// whose holidays cover more than a year fails instead of looping.
const maxClosedDays = 400

// AddBusiness returns the instant at which d of business time has elapsed
// after start. When start is outside working hours the clock starts at the
// next opening. A result that lands exactly on a closing time is that closing
// time, not the next opening: a 9h SLA from Monday 09:00 on a 09:00–18:00
// calendar is due Monday 18:00. For d <= 0 it returns start. The result is in
// start's location.
//
// It returns an EINVALID error when the calendar does not validate or has no
// working time in 400 consecutive days. The work is proportional to the
// number of calendar days spanned, not to d's resolution.
func (c *Calendar) AddBusiness(start time.Time, d time.Duration) (time.Time, error) {
	cc, err := c.compile()
	if err != nil {
		return time.Time{}, fmt.Errorf("add business time: %w", err)
	}
	if d <= 0 {
		return start, nil
	}
	if cc.always {
		return start.Add(d), nil
	}
	remaining := d
	closed := 0
	// Start a day early: a span of the previous local date may reach into
	// start's date (a 24:00 end, or a zone whose midnight is skipped).
	for day := cc.localDate(start).AddDate(0, 0, -1); ; day = day.AddDate(0, 0, 1) {
		open := false
		for _, s := range cc.spansOn(day) {
			from, to := cc.instants(day, s)
			if !to.After(from) {
				continue
			}
			open = true
			if !to.After(start) {
				continue
			}
			if from.Before(start) {
				from = start
			}
			avail := to.Sub(from)
			if remaining <= avail {
				return from.Add(remaining).In(start.Location()), nil
			}
			remaining -= avail
		}
		if open {
			closed = 0
		} else if closed++; closed > maxClosedDays {
			return time.Time{}, lianlu.Errorf(lianlu.EINVALID,
				"calendar %q has no working time for %d days after %s", c.Name, maxClosedDays, day.Format(time.DateOnly))
		}
	}
}

// BusinessBetween returns the business time elapsed between a and b: 0 when b
// is not after a, and 0 for a calendar that does not validate.
func (c *Calendar) BusinessBetween(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	cc, err := c.compile()
	if err != nil {
		return 0
	}
	return cc.between(a, b)
}

func (cc *compiled) between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if cc.always {
		return b.Sub(a)
	}
	var total time.Duration
	last := cc.localDate(b)
	for day := cc.localDate(a).AddDate(0, 0, -1); !day.After(last); day = day.AddDate(0, 0, 1) {
		for _, s := range cc.spansOn(day) {
			from, to := cc.instants(day, s)
			if from.Before(a) {
				from = a
			}
			if to.After(b) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
	}
	return total
}

// IsOpen reports whether t falls inside working hours. Spans are half-open:
// a 09:00–18:00 day is open at 09:00 and closed at 18:00. A calendar that
// does not validate is never open.
func (c *Calendar) IsOpen(t time.Time) bool {
	cc, err := c.compile()
	if err != nil {
		return false
	}
	if cc.always {
		return true
	}
	day := cc.localDate(t)
	for _, d := range []time.Time{day.AddDate(0, 0, -1), day} {
		for _, s := range cc.spansOn(d) {
			if from, to := cc.instants(d, s); !t.Before(from) && t.Before(to) {
				return true
			}
		}
	}
	return false
}

// BusinessDay returns the length of one business day, the unit of "3d" SLAs:
// the nominal working time of Monday or, when Monday is closed, of the first
// open weekday after it; 24h for an AlwaysOpen calendar; 0 for a calendar
// that does not validate.
func (c *Calendar) BusinessDay() time.Duration {
	cc, err := c.compile()
	if err != nil {
		return 0
	}
	return cc.businessDay()
}

func (cc *compiled) businessDay() time.Duration {
	if cc.always {
		return 24 * time.Hour
	}
	for _, wd := range weekdayOrder {
		var minutes int
		for _, s := range cc.week[wd] {
			minutes += s.end - s.start
		}
		if minutes > 0 {
			return time.Duration(minutes) * time.Minute
		}
	}
	return 0
}

// ParseSLA parses an SLA into a duration of business time. It accepts Go
// durations ("4h", "90m", "1h30m") and whole business days, "3d" or "3bd",
// each worth BusinessDay (so "3d" on a 09:00–18:00 calendar is 27h of
// business time, and 72h on an AlwaysOpen one). It returns an EINVALID error
// for anything else, for a negative SLA, and for days on a calendar that does
// not validate.
func (c *Calendar) ParseSLA(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, lianlu.Errorf(lianlu.EINVALID, "SLA is empty")
	}
	if n, ok := cutDays(s); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, lianlu.Errorf(lianlu.EINVALID, "SLA %q: %q is not a whole number of days", s, n)
		}
		cc, err := c.compile()
		if err != nil {
			return 0, fmt.Errorf("parse SLA %q: %w", s, err)
		}
		day := cc.businessDay()
		if days > math.MaxInt64/int64(day) {
			return 0, lianlu.Errorf(lianlu.EINVALID, "SLA %q is too long", s)
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, lianlu.Errorf(lianlu.EINVALID, "SLA %q is not a duration such as 4h, 90m, 3d or 3bd", s)
	}
	if d < 0 {
		return 0, lianlu.Errorf(lianlu.EINVALID, "SLA %q is negative", s)
	}
	return d, nil
}

// cutDays returns the digits of an "Nd" or "Nbd" SLA.
func cutDays(s string) (string, bool) {
	n, ok := strings.CutSuffix(s, "bd")
	if !ok {
		n, ok = strings.CutSuffix(s, "d")
	}
	if !ok || n == "" {
		return "", false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return n, true
}
