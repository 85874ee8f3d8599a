package collect

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/lianlu/lianlu"
)

// FuzzDecodeCloudEvents checks that DecodeCloudEvents never panics, fails
// only with client errors, and that every event it accepts has the required
// attributes, JSON data, and survives a round trip through NewCloudEvent.
func FuzzDecodeCloudEvents(f *testing.F) {
	seeds := []struct {
		contentType, specVersion, id, subject, body string
	}{
		{"application/cloudevents+json", "", "", "", minimal},
		{"application/cloudevents+json; charset=utf-8", "", "", "",
			`{"specversion":"1.0","id":"E-1","source":"shop","type":"t","time":"2026-03-01T08:30:00Z","subject":"s","department":"sales","data":{"a":[1,2,{"b":null}]}}`},
		{"application/cloudevents+json", "", "", "", `{"specversion":"1.0","id":"E-1","id":"E-2","Source":"x","data_base64":"AA=="}`},
		{"application/cloudevents+json", "", "", "", `{"specversion":"1.0","id":"E-1","source":"shop","type":"t","x":{"y":1}}`},
		{"application/cloudevents+json", "", "", "", `{"specversion":`},
		{"application/cloudevents+json", "", "", "", `[]`},
		{"application/cloudevents-batch+json", "", "", "", `[` + minimal + `,` + minimal + `]`},
		{"application/cloudevents-batch+json", "", "", "", `[{}, 1, null, "x"]`},
		{"application/cloudevents-batch+json", "", "", "", `[]`},
		{"application/json", "1.0", "E-1", "order%2FO-1", `{"a":1}`},
		{"application/json", "1.0", `"E-1"`, "%C0%A0", ``},
		{"text/plain", "1.0", "E-1", "", `hello`},
		{"application/json", "0.3", "", "100%", `{`},
		{"", "", "", "", ``},
	}
	for _, s := range seeds {
		f.Add(s.contentType, s.specVersion, s.id, s.subject, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, contentType, specVersion, id, subject string, body []byte) {
		header := http.Header{}
		if contentType != "" {
			header.Set("Content-Type", contentType)
		}
		if specVersion != "" {
			// Binary mode: the other attributes come from headers too.
			header.Set("ce-specversion", specVersion)
			header.Set("ce-id", id)
			header.Set("ce-source", "fuzz")
			header.Set("ce-type", "fuzz.event")
			if subject != "" {
				header.Set("ce-subject", subject)
			}
		}

		events, err := DecodeCloudEvents(header, body, CloudEventsOptions{MaxEvents: 10})
		if err != nil {
			if events != nil {
				t.Fatalf("events %+v returned with error %v", events, err)
			}
			if code := lianlu.ErrorCode(err); code != lianlu.EINVALID && code != lianlu.EUNSUPPORTED {
				t.Fatalf("code %q for %v", code, err)
			}
			return
		}
		if len(events) == 0 {
			t.Fatal("no events and no error")
		}
		for i, e := range events {
			if e.ID == "" || e.Source == "" || e.Type == "" {
				t.Fatalf("event %d lacks a required attribute: %+v", i, e)
			}
			if e.Data != nil && !json.Valid(e.Data) {
				t.Fatalf("event %d has malformed data %q", i, e.Data)
			}

			b, err := json.Marshal(NewCloudEvent(e))
			if err != nil {
				t.Fatalf("encode event %d %+v: %v", i, e, err)
			}
			again, err := DecodeCloudEvents(http.Header{"Content-Type": {CloudEventsJSONType}}, b, CloudEventsOptions{})
			if err != nil {
				t.Fatalf("decode encoded event %s: %v %+v", b, err, lianlu.ErrorFields(err))
			}
			// json.Marshal escapes <, > and & in the data, so compare the
			// data by value and the rest exactly.
			if !sameJSON(t, again[0].Data, e.Data) {
				t.Fatalf("round trip of event %d: data %s, want %s", i, again[0].Data, e.Data)
			}
			again[0].Data = e.Data
			if !reflect.DeepEqual(again[0], e) {
				t.Fatalf("round trip of event %d:\n got %+v\nwant %+v", i, again[0], e)
			}
		}
	})
}

// sameJSON reports whether a and b hold the same JSON value, or are both nil.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	decode := func(data json.RawMessage) any {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}
