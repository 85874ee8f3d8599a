package sla

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

func TestAddBusiness(t *testing.T) {
	const sh, be = "Asia/Shanghai", "Europe/Berlin"
	cn, berlin, b24, always := cnCalendar(), Default("berlin", be), berlin24(), AlwaysOpen("ops")
	tests := []struct {
		name  string
		cal   *Calendar
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"before opening", &cn, at(t, sh, "2026-03-02 07:30"), time.Hour, at(t, sh, "2026-03-02 10:00")},
		{"inside a span", &cn, at(t, sh, "2026-03-02 10:30"), time.Hour, at(t, sh, "2026-03-02 11:30")},
		{"across lunch", &cn, at(t, sh, "2026-03-02 11:30"), time.Hour, at(t, sh, "2026-03-02 13:30")},
		{"at lunch break", &cn, at(t, sh, "2026-03-02 12:15"), 30 * time.Minute, at(t, sh, "2026-03-02 13:30")},
		{"ends on a closing time", &cn, at(t, sh, "2026-03-02 09:00"), 3 * time.Hour, at(t, sh, "2026-03-02 12:00")},
		{"one full day", &cn, at(t, sh, "2026-03-02 09:00"), 8 * time.Hour, at(t, sh, "2026-03-02 18:00")},
		{"start at closing", &cn, at(t, sh, "2026-03-02 18:00"), time.Minute, at(t, sh, "2026-03-03 09:01")},
		{"friday evening to monday", &cn, at(t, sh, "2026-03-06 17:00"), 2 * time.Hour, at(t, sh, "2026-03-09 10:00")},
		{"friday after close", &cn, at(t, sh, "2026-03-06 19:00"), time.Hour, at(t, sh, "2026-03-09 10:00")},
		{"weekend start", &cn, at(t, sh, "2026-03-07 11:00"), 4 * time.Hour, at(t, sh, "2026-03-09 14:00")},
		{"skips national day", &cn, at(t, sh, "2026-09-30 17:00"), 2 * time.Hour, at(t, sh, "2026-10-08 10:00")},
		{"adjusted workday on sunday", &cn, at(t, sh, "2026-09-26 10:00"), time.Hour, at(t, sh, "2026-09-27 10:00")},
		{"adjusted workday on saturday", &cn, at(t, sh, "2026-10-09 17:30"), time.Hour, at(t, sh, "2026-10-10 09:30")},
		{"30 business days", &cn, at(t, sh, "2026-03-02 09:00"), 30 * 8 * time.Hour, at(t, sh, "2026-04-10 18:00")},
		{"zero keeps start", &cn, at(t, sh, "2026-03-07 11:00"), 0, at(t, sh, "2026-03-07 11:00")},
		{"negative keeps start", &cn, at(t, sh, "2026-03-02 10:00"), -time.Hour, at(t, sh, "2026-03-02 10:00")},
		{"start given in UTC", &cn, time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), time.Hour, time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)},
		{"always open", &always, at(t, sh, "2026-03-07 23:00"), 30 * time.Hour, at(t, sh, "2026-03-09 05:00")},
		// Europe/Berlin moves to CEST on Sunday 29 March 2026 at 02:00.
		{"berlin across spring DST", &berlin, at(t, be, "2026-03-27 17:00"), 2 * time.Hour, time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)},
		{"berlin 24h, 23h sunday", &b24, at(t, be, "2026-03-28 12:00"), 24 * time.Hour, at(t, be, "2026-03-29 13:00")},
		// ... and back to CET on Sunday 25 October 2026 at 03:00.
		{"berlin 24h, 25h sunday", &b24, at(t, be, "2026-10-24 12:00"), 24 * time.Hour, at(t, be, "2026-10-25 11:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cal.AddBusiness(tt.start, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("AddBusiness(%s, %s) = %s, want %s", tt.start, tt.d, got, tt.want)
			}
			if got.Location() != tt.start.Location() {
				t.Errorf("result in %s, want start's location %s", got.Location(), tt.start.Location())
			}
		})
	}
}

func TestAddBusinessErrors(t *testing.T) {
	bad := Default("x", "Nowhere/Town")
	if _, err := bad.AddBusiness(time.Now(), time.Hour); lianlu.ErrorCode(err) != lianlu.EINVALID {
		t.Errorf("invalid calendar: err = %v, want EINVALID", err)
	}

	// Open on Mondays only, with every Monday of 2026 and 2027 a holiday.
	closed := Calendar{Name: "closed", Timezone: "UTC", Hours: map[string][]Span{"mon": {{"09:00", "10:00"}}}}
	for day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2028; day = day.AddDate(0, 0, 1) {
		closed.Holidays = append(closed.Holidays, day.Format(time.DateOnly))
	}
	if err := closed.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := closed.AddBusiness(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour); lianlu.ErrorCode(err) != lianlu.EINVALID {
		t.Errorf("never-opening calendar: err = %v, want EINVALID", err)
	}
}

func TestBusinessBetween(t *testing.T) {
	const sh, be = "Asia/Shanghai", "Europe/Berlin"
	cn, b24 := cnCalendar(), berlin24()
	tests := []struct {
		name string
		cal  *Calendar
		a, b time.Time
		want time.Duration
	}{
		{"one day", &cn, at(t, sh, "2026-03-02 00:00"), at(t, sh, "2026-03-03 00:00"), 8 * time.Hour},
		{"a week", &cn, at(t, sh, "2026-03-02 00:00"), at(t, sh, "2026-03-09 00:00"), 40 * time.Hour},
		{"national day week", &cn, at(t, sh, "2026-09-28 00:00"), at(t, sh, "2026-10-12 00:00"), 6 * 8 * time.Hour}, // 28–30 Sep, 8–10 Oct
		{"inside lunch", &cn, at(t, sh, "2026-03-02 12:10"), at(t, sh, "2026-03-02 12:50"), 0},
		{"reversed", &cn, at(t, sh, "2026-03-03 00:00"), at(t, sh, "2026-03-02 00:00"), 0},
		{"spring sunday is 23h", &b24, at(t, be, "2026-03-29 00:00"), at(t, be, "2026-03-30 00:00"), 23 * time.Hour},
		{"autumn sunday is 25h", &b24, at(t, be, "2026-10-25 00:00"), at(t, be, "2026-10-26 00:00"), 25 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.cal.BusinessBetween(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: BusinessBetween = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestAddBusinessProperties checks AddBusiness against BusinessBetween on
// random starts and durations, in zones with and without DST.
func TestAddBusinessProperties(t *testing.T) {
	calendars := []Calendar{cnCalendar(), Default("berlin", "Europe/Berlin"), berlin24(), AlwaysOpen("ops"),
		Default("new-york", "America/New_York")}
	rng := rand.New(rand.NewPCG(2026, 10))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, cal := range calendars {
		for range 300 {
			start := base.Add(time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour))))
			d := time.Duration(rng.Int64N(int64(30*9*time.Hour))) + 1
			end, err := cal.AddBusiness(start, d)
			if err != nil {
				t.Fatalf("%s: AddBusiness(%s, %s): %v", cal.Name, start, d, err)
			}
			if got := cal.BusinessBetween(start, end); got != d {
				t.Fatalf("%s: BusinessBetween(%s, AddBusiness(_, %s) = %s) = %s", cal.Name, start, d, end, got)
			}
			if !cal.IsOpen(end.Add(-time.Nanosecond)) {
				t.Fatalf("%s: closed just before AddBusiness(%s, %s) = %s", cal.Name, start, d, end)
			}
			mid := start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)) + 1)))
			if a, b := cal.BusinessBetween(start, mid), cal.BusinessBetween(mid, end); a+b != d {
				t.Fatalf("%s: not additive at %s: %s + %s != %s", cal.Name, mid, a, b, d)
			}
		}
	}
}

func TestIsOpen(t *testing.T) {
	const sh = "Asia/Shanghai"
	cn := cnCalendar()
	tests := []struct {
		t    string
		want bool
	}{
		{"2026-03-02 08:59", false},
		{"2026-03-02 09:00", true},
		{"2026-03-02 11:59", true},
		{"2026-03-02 12:00", false},
		{"2026-03-02 13:00", true},
		{"2026-03-02 18:00", false},
		{"2026-03-07 10:00", false}, // Saturday
		{"2026-10-01 10:00", false}, // holiday
		{"2026-09-27 10:00", true},  // adjusted Sunday workday
	}
	for _, tt := range tests {
		if got := cn.IsOpen(at(t, sh, tt.t)); got != tt.want {
			t.Errorf("IsOpen(%s) = %t, want %t", tt.t, got, tt.want)
		}
	}
	always := AlwaysOpen("ops")
	if !always.IsOpen(at(t, sh, "2026-10-01 03:00")) {
		t.Error("AlwaysOpen calendar is closed")
	}
	bad := Default("bad", "Nowhere/Town")
	if bad.IsOpen(at(t, sh, "2026-03-02 10:00")) {
		t.Error("invalid calendar is open")
	}
}

func TestBusinessDay(t *testing.T) {
	cn, def, always := cnCalendar(), Default("x", "UTC"), AlwaysOpen("ops")
	tuesdays := Calendar{Timezone: "UTC", Hours: map[string][]Span{"tue": {{"10:00", "12:00"}}, "sun": {{"00:00", "24:00"}}}}
	bad := Calendar{Timezone: "UTC"}
	for _, tt := range []struct {
		cal  *Calendar
		want time.Duration
	}{{&cn, 8 * time.Hour}, {&def, 9 * time.Hour}, {&always, 24 * time.Hour}, {&tuesdays, 2 * time.Hour}, {&bad, 0}} {
		if got := tt.cal.BusinessDay(); got != tt.want {
			t.Errorf("%+v: BusinessDay() = %s, want %s", tt.cal, got, tt.want)
		}
	}
}

func TestParseSLA(t *testing.T) {
	cn, def, always := cnCalendar(), Default("x", "UTC"), AlwaysOpen("ops")
	bad := Calendar{Timezone: "UTC"}
	tests := []struct {
		cal  *Calendar
		in   string
		want time.Duration
		ok   bool
	}{
		{&def, "4h", 4 * time.Hour, true},
		{&def, "90m", 90 * time.Minute, true},
		{&def, " 1h30m ", 90 * time.Minute, true},
		{&def, "0s", 0, true},
		{&def, "3d", 27 * time.Hour, true},
		{&def, "3bd", 27 * time.Hour, true},
		{&cn, "2d", 16 * time.Hour, true},
		{&always, "1d", 24 * time.Hour, true},
		{&bad, "4h", 4 * time.Hour, true}, // no calendar needed
		{&def, "", 0, false},
		{&def, "-1h", 0, false},
		{&def, "-1d", 0, false},
		{&def, "1.5d", 0, false},
		{&def, "3 d", 0, false},
		{&def, "d", 0, false},
		{&def, "bd", 0, false},
		{&def, "3x", 0, false},
		{&def, "99999999999999d", 0, false},
		{&bad, "1d", 0, false},
	}
	for _, tt := range tests {
		got, err := tt.cal.ParseSLA(tt.in)
		switch {
		case tt.ok && (err != nil || got != tt.want):
			t.Errorf("ParseSLA(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		case !tt.ok && lianlu.ErrorCode(err) != lianlu.EINVALID:
			t.Errorf("ParseSLA(%q) = %s, %v; want an EINVALID error", tt.in, got, err)
		}
	}
}

func BenchmarkAddBusiness30Days(b *testing.B) {
	cal := cnCalendar()
	start := at(b, "Asia/Shanghai", "2026-03-02 10:17")
	for b.Loop() {
		if _, err := cal.AddBusiness(start, 30*8*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
