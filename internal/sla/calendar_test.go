package sla

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the host's zone files

	"github.com/lianlu/lianlu"
	"go.yaml.in/yaml/v3"
)

// cnCalendar is a Shanghai office with a lunch break, the 2026 National Day
// holidays and two adjusted working weekend days.
func cnCalendar() Calendar {
	hours := map[string][]Span{}
	for _, k := range []string{"mon", "tue", "wed", "thu", "fri"} {
		hours[k] = []Span{{"09:00", "12:00"}, {"13:00", "18:00"}}
	}
	return Calendar{
		Name:     "cn-office",
		Timezone: "Asia/Shanghai",
		Hours:    hours,
		Holidays: []string{"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"},
		Workdays: []string{"2026-09-27", "2026-10-10"}, // a Sunday and a Saturday
	}
}

// berlin24 is open around the clock in Berlin, as hours rather than
// AlwaysOpen, so that days of 23 and 25 hours show.
func berlin24() Calendar {
	hours := map[string][]Span{}
	for _, k := range weekdayKeys {
		hours[k] = []Span{{"00:00", "24:00"}}
	}
	return Calendar{Name: "berlin-24", Timezone: "Europe/Berlin", Hours: hours}
}

// at parses "2006-01-02 15:04" in the zone tz.
func at(tb testing.TB, tz, s string) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func fieldNames(err error) []string {
	var names []string
	for _, f := range lianlu.ErrorFields(err) {
		names = append(names, f.Field)
	}
	return names
}

func TestValidateValid(t *testing.T) {
	for name, cal := range map[string]Calendar{
		"default":            Default("office", "Asia/Shanghai"),
		"always open":        AlwaysOpen("ops"),
		"always open, no tz": {AlwaysOpen: true},
		"cn":                 cnCalendar(),
		"berlin 24":          berlin24(),
		"adjacent spans":     {Timezone: "UTC", Hours: map[string][]Span{"sat": {{"09:00", "12:00"}, {"12:00", "13:00"}}}},
	} {
		if err := cal.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, fields %v", name, err, lianlu.ErrorFields(err))
		}
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		cal  Calendar
		want []string
	}{
		{
			name: "everything wrong",
			cal: Calendar{
				Timezone: "Mars/Olympus_Mons",
				Hours: map[string][]Span{
					"mon":    {{"09:00", "12:00"}, {"11:00", "13:00"}, {"25:00", "26:00"}},
					"tue":    {{"18:00", "09:00"}},
					"wed":    {{"9:00", "10:00"}},
					"thu":    {{"09:00", "18:00"}, {"10:00", "11:00"}, {"12:00", "13:00"}},
					"fri":    {{"09:00", "24:00"}},
					"sat":    {{"10:00", "24:30"}},
					"funday": {{"09:00", "10:00"}},
				},
				Holidays: []string{"2026-10-01", "2026-13-01", "tomorrow"},
				Workdays: []string{"2026-10-01", "2026/10/10"},
			},
			want: []string{
				"timezone",
				"hours.mon[2]", "hours.mon[1]",
				"hours.tue[0]", "hours.wed[0]",
				"hours.thu[1]", "hours.thu[2]",
				"hours.sat[0]",
				"hours.funday",
				"holidays[1]", "holidays[2]",
				"workdays[0]", "workdays[1]",
			},
		},
		{name: "no working time", cal: Calendar{Timezone: "UTC"}, want: []string{"hours"}},
		{name: "only empty days", cal: Calendar{Timezone: "UTC", Hours: map[string][]Span{"mon": {}}}, want: []string{"hours"}},
		{name: "missing time zone", cal: Default("x", ""), want: []string{"timezone"}},
		{name: "host time zone", cal: Default("x", "Local"), want: []string{"timezone"}},
		{name: "empty span", cal: Calendar{Timezone: "UTC", Hours: map[string][]Span{"sun": {{"09:00", "09:00"}}}}, want: []string{"hours.sun[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cal.Validate()
			var e *lianlu.Error
			if !errors.As(err, &e) || e.Code != lianlu.EINVALID {
				t.Fatalf("Validate() = %v, want an EINVALID *lianlu.Error", err)
			}
			if got := fieldNames(err); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %q\nwant %q\n(%v)", got, tt.want, e.Fields)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	cal := Calendar{Timezone: "UTC", Hours: map[string][]Span{"mon": {{"09:00", "12:00"}, {"11:00", "13:00"}}}}
	fields := lianlu.ErrorFields(cal.Validate())
	if len(fields) != 1 || fields[0].Message != "overlaps hours.mon[0]" {
		t.Errorf("fields = %v, want hours.mon[1] overlapping hours.mon[0]", fields)
	}
}

func TestCalendarJSONRoundTrip(t *testing.T) {
	cal := cnCalendar()
	data, err := json.Marshal(cal)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"mon":[["09:00","12:00"],["13:00","18:00"]]`; !strings.Contains(string(data), want) {
		t.Errorf("JSON %s\ndoes not contain %s", data, want)
	}
	var got Calendar
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cal) {
		t.Errorf("round trip = %+v\nwant %+v", got, cal)
	}
	for _, always := range []Calendar{AlwaysOpen("ops")} {
		data, _ := json.Marshal(always)
		var back Calendar
		if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, always) {
			t.Errorf("round trip of %s = %+v, %v", data, back, err)
		}
	}
}

func TestSpanJSONErrors(t *testing.T) {
	for _, in := range []string{`["09:00"]`, `["09:00","12:00","13:00"]`, `"09:00-12:00"`, `{"start":"09:00"}`, `[9, 12]`} {
		var s Span
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, s)
		}
	}
}

func TestCalendarYAMLRoundTrip(t *testing.T) {
	cal := cnCalendar()
	data, err := yaml.Marshal(cal)
	if err != nil {
		t.Fatal(err)
	}
	if want := `- ["09:00", "12:00"]`; !strings.Contains(string(data), want) {
		t.Errorf("YAML\n%s\ndoes not contain %s", data, want)
	}
	var got Calendar
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cal) {
		t.Errorf("round trip = %+v\nwant %+v", got, cal)
	}
}

func TestCalendarYAMLHandWritten(t *testing.T) {
	const doc = `
name: cn-office
timezone: Asia/Shanghai
hours:
  mon: [[09:00, 12:00], ["13:00", "18:00"]]
  sat:
    - - "10:00"
      - "24:00"
holidays: [2026-10-01]
workdays: ["2026-09-27"]
`
	var got Calendar
	if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := Calendar{
		Name:     "cn-office",
		Timezone: "Asia/Shanghai",
		Hours: map[string][]Span{
			"mon": {{"09:00", "12:00"}, {"13:00", "18:00"}},
			"sat": {{"10:00", "24:00"}},
		},
		Holidays: []string{"2026-10-01"},
		Workdays: []string{"2026-09-27"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}

	for _, bad := range []string{
		"hours: {mon: [\"09:00\"]}",
		"hours: {mon: [[\"09:00\", \"10:00\", \"11:00\"]]}",
		"hours: {mon: [{start: \"09:00\", end: \"10:00\"}]}",
		"hours: {mon: [[[\"09:00\"], \"10:00\"]]}",
	} {
		var c Calendar
		if err := yaml.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", bad, c)
		}
	}
}
