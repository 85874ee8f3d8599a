// Package sla computes service-level deadlines and judges breaches: business
// calendars (working hours, holidays and adjusted working days in a time
// zone), arithmetic in business time, the clocks of a handoff and the
// classification of a missed deadline by the segment that overran.
//
// It is pure logic with no storage and no clock of its own: every function is
// given the instants it works on, so results are deterministic.
package sla

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
)

// Calendar is a business calendar: when a department works. Business time is
// wall time spent inside the working hours of the calendar's time zone, so a
// day with a daylight-saving change is measured as it is lived.
type Calendar struct {
	Name string `json:"name" yaml:"name"`
	// Timezone is an IANA zone name such as Asia/Shanghai. Hours, holidays and
	// working days are local to it. It may be empty only when AlwaysOpen is
	// set, and then means UTC.
	Timezone string `json:"timezone" yaml:"timezone"`
	// Hours lists the working spans of each weekday, keyed "mon" to "sun". A
	// weekday missing from the map, or with no spans, is closed.
	Hours map[string][]Span `json:"hours" yaml:"hours"`
	// Holidays are local dates ("2026-10-01") closed all day.
	Holidays []string `json:"holidays" yaml:"holidays"`
	// Workdays are extra working dates, such as China's adjusted working
	// weekends. They use the hours of their own weekday or, when that weekday
	// has none, the hours of Monday.
	Workdays []string `json:"workdays" yaml:"workdays"`
	// AlwaysOpen makes the calendar 24x7: business time is wall time, and
	// Hours, Holidays and Workdays are ignored (they are still validated).
	AlwaysOpen bool `json:"always_open" yaml:"always_open"`
}

// Span is one working period of a day, from Start to End in local "HH:MM"
// time; End may be "24:00" for midnight at the end of the day. In JSON and
// YAML a Span is a two-element array: ["09:00", "18:00"].
type Span struct {
	Start, End string
}

// Default returns a calendar open Monday to Friday from 09:00 to 18:00 in the
// time zone tz.
func Default(name, tz string) Calendar {
	day := []Span{{Start: "09:00", End: "18:00"}}
	hours := make(map[string][]Span, 5)
	for _, k := range []string{"mon", "tue", "wed", "thu", "fri"} {
		hours[k] = slices.Clone(day)
	}
	return Calendar{Name: name, Timezone: tz, Hours: hours}
}

// AlwaysOpen returns a 24x7 calendar in UTC.
func AlwaysOpen(name string) Calendar {
	return Calendar{Name: name, Timezone: "UTC", AlwaysOpen: true}
}

// Validate checks the calendar. It returns an EINVALID *lianlu.Error naming
// each offending field ("timezone", "hours.mon[1]", "holidays[2]",
// "workdays[0]", "hours") for an unknown time zone, unparsable times, a span
// whose start is not before its end, overlapping spans, unknown weekdays, bad
// dates, a date that is both a holiday and a workday, and a calendar with no
// working time at all (unless AlwaysOpen).
func (c *Calendar) Validate() error {
	if _, err := c.compile(); err != nil {
		return err
	}
	return nil
}

// weekdayKeys are the Hours keys, indexed by time.Weekday.
var weekdayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekdayOrder is the order in which weekdays are validated and searched for
// a standard business day: the working week as people read it.
var weekdayOrder = [7]time.Weekday{
	time.Monday, time.Tuesday, time.Wednesday, time.Thursday,
	time.Friday, time.Saturday, time.Sunday,
}

// minuteSpan is a parsed Span in minutes after local midnight.
type minuteSpan struct {
	start, end int
	index      int // position in the Calendar's list, for error messages
}

// dateKey identifies a local calendar date as yyyymmdd.
type dateKey int

func keyOf(day time.Time) dateKey {
	y, m, d := day.Date()
	return dateKey(y*10000 + int(m)*100 + d)
}

// compiled is a validated Calendar in a form cheap to evaluate.
type compiled struct {
	loc      *time.Location
	always   bool
	week     [7][]minuteSpan // by time.Weekday, sorted by start
	holidays map[dateKey]bool
	workdays map[dateKey]bool
}

// compile validates c and builds its evaluation form. Validation and
// compilation are one pass so that they can never disagree.
func (c *Calendar) compile() (*compiled, error) {
	var fields []lianlu.FieldError
	add := func(field, format string, args ...any) {
		fields = append(fields, lianlu.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	cc := &compiled{always: c.AlwaysOpen}

	switch tz := c.Timezone; {
	case tz == "" && c.AlwaysOpen:
		cc.loc = time.UTC
	case tz == "":
		add("timezone", "is required")
	case tz == "Local":
		// The host's zone would make results depend on where Lianlu runs.
		add("timezone", "must be an IANA zone name such as Asia/Shanghai, not Local")
	default:
		loc, err := loadLocation(tz)
		if err != nil {
			add("timezone", "unknown time zone %q", tz)
		} else {
			cc.loc = loc
		}
	}

	configured := 0
	for _, wd := range weekdayOrder {
		key := weekdayKeys[wd]
		spans := c.Hours[key]
		configured += len(spans)
		parsed := make([]minuteSpan, 0, len(spans))
		for i, s := range spans {
			field := fmt.Sprintf("hours.%s[%d]", key, i)
			start, okStart := parseClock(s.Start)
			end, okEnd := parseClock(s.End)
			switch {
			case !okStart:
				add(field, "start %q is not a time HH:MM", s.Start)
			case !okEnd:
				add(field, "end %q is not a time HH:MM", s.End)
			case start >= end:
				add(field, "start %s is not before end %s", s.Start, s.End)
			default:
				parsed = append(parsed, minuteSpan{start: start, end: end, index: i})
			}
		}
		sort.SliceStable(parsed, func(i, j int) bool { return parsed[i].start < parsed[j].start })
		// Compare each span with the one reaching furthest so far, so that a
		// long span enclosing several short ones is caught for each of them.
		for j, far := 1, 0; j < len(parsed); j++ {
			if parsed[j].start < parsed[far].end {
				add(fmt.Sprintf("hours.%s[%d]", key, parsed[j].index),
					"overlaps hours.%s[%d]", key, parsed[far].index)
			}
			if parsed[j].end > parsed[far].end {
				far = j
			}
		}
		cc.week[wd] = parsed
	}
	var unknown []string
	for key := range c.Hours {
		if !slices.Contains(weekdayKeys[:], key) {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		add("hours."+key, "unknown weekday; use mon, tue, wed, thu, fri, sat or sun")
	}
	if configured == 0 && !c.AlwaysOpen {
		add("hours", "no working time: give hours for at least one weekday or set always_open")
	}

	cc.holidays = make(map[dateKey]bool, len(c.Holidays))
	for i, s := range c.Holidays {
		day, err := time.Parse(time.DateOnly, s)
		if err != nil {
			add(fmt.Sprintf("holidays[%d]", i), "%q is not a date YYYY-MM-DD", s)
			continue
		}
		cc.holidays[keyOf(day)] = true
	}
	cc.workdays = make(map[dateKey]bool, len(c.Workdays))
	for i, s := range c.Workdays {
		field := fmt.Sprintf("workdays[%d]", i)
		day, err := time.Parse(time.DateOnly, s)
		if err != nil {
			add(field, "%q is not a date YYYY-MM-DD", s)
			continue
		}
		if cc.holidays[keyOf(day)] {
			add(field, "%s is also listed as a holiday", s)
			continue
		}
		cc.workdays[keyOf(day)] = true
	}

	if len(fields) > 0 {
		return nil, lianlu.Invalid(fields...)
	}
	return cc, nil
}

// parseClock parses "HH:MM" (00:00 to 24:00) into minutes after midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digits := []byte{s[0], s[1], s[3], s[4]}
	for _, b := range digits {
		if b < '0' || b > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// locations memoises time.LoadLocation, which reads and parses the zone file
// on every call; a Location is immutable, so sharing one is safe.
var locations sync.Map // string → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}

// localDate returns t's date in the calendar's zone, as midnight UTC so that
// stepping by days is plain date arithmetic.
func (cc *compiled) localDate(t time.Time) time.Time {
	y, m, d := t.In(cc.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// spansOn returns the working spans of a local date.
func (cc *compiled) spansOn(day time.Time) []minuteSpan {
	key := keyOf(day)
	if cc.holidays[key] {
		return nil
	}
	spans := cc.week[day.Weekday()]
	if len(spans) == 0 && cc.workdays[key] {
		spans = cc.week[time.Monday]
	}
	return spans
}

// instants returns the instants at which a span opens and closes on a local
// date. time.Date resolves the wall clock in the zone, so DST is honoured;
// minutes past 59 and the 24:00 end normalise into the following hour or day.
func (cc *compiled) instants(day time.Time, s minuteSpan) (open, close time.Time) {
	y, m, d := day.Date()
	return time.Date(y, m, d, 0, s.start, 0, 0, cc.loc), time.Date(y, m, d, 0, s.end, 0, 0, cc.loc)
}
