package collect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// structuredHeader returns the header of a structured-mode request.
func structuredHeader() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}}
}

// batchHeader returns the header of a batch-mode request.
func batchHeader() http.Header {
	return http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
}

// binaryHeader returns the header of a binary-mode request with the four
// required attributes; kv adds or replaces headers in pairs.
func binaryHeader(kv ...string) http.Header {
	h := http.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "E-1")
	h.Set("ce-source", "shop")
	h.Set("ce-type", "order.placed")
	h.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			h.Del(kv[i])
		} else {
			h.Set(kv[i], kv[i+1])
		}
	}
	return h
}

// minimal is the smallest valid structured event.
const minimal = `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed"}`

// fieldNames returns the sorted field names of err's field errors.
func fieldNames(err error) []string {
	var names []string
	for _, f := range lianlu.ErrorFields(err) {
		names = append(names, f.Field)
	}
	slices.Sort(names)
	return names
}

func TestDecodeCloudEvents(t *testing.T) {
	placed := lianlu.Event{ID: "E-1", Source: "shop", Type: "order.placed"}
	at := time.Date(2026, 3, 1, 8, 30, 0, 500_000_000, time.UTC)

	tests := []struct {
		name   string
		header http.Header
		body   string
		opts   CloudEventsOptions
		want   []lianlu.Event
		// wantCode and wantFields describe the expected error.
		wantCode   string
		wantFields []string
		// wantMessage, when set, must occur in the error's message or in
		// one of its field messages.
		wantMessage string
	}{
		// Structured mode.
		{
			name:   "structured minimal",
			header: structuredHeader(),
			body:   minimal,
			want:   []lianlu.Event{placed},
		},
		{
			name:   "structured full",
			header: http.Header{"Content-Type": {"Application/CloudEvents+JSON"}},
			body: `{
				"specversion": "1.0", "id": "E-1", "source": "shop", "type": "order.placed",
				"subject": "order/O-1", "time": "2026-03-01T09:30:00.5+01:00",
				"dataschema": "https://example.com/order.json",
				"datacontenttype": "application/vnd.order+json; charset=utf-8",
				"department": "sales", "actor": "token:shop", "correlationid": "C-1",
				"causationid": "E-0", "comexampleflag": true, "comexamplecount": 5,
				"comexamplenote": "x", "comexampleunset": null,
				"data": { "order_id" : "O-1", "total": 1999 }
			}`,
			want: []lianlu.Event{{
				ID: "E-1", Source: "shop", Type: "order.placed", Subject: "order/O-1",
				Time: at, DataSchema: "https://example.com/order.json",
				Department: "sales", ClaimedActor: "token:shop", CorrelationID: "C-1", CausationID: "E-0",
				Data: json.RawMessage(`{"order_id":"O-1","total":1999}`),
			}},
		},
		{
			name:   "structured null attributes are unset and null data is kept",
			header: structuredHeader(),
			body:   `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","subject":null,"time":null,"department":null,"data":null}`,
			want:   []lianlu.Event{{ID: "E-1", Source: "shop", Type: "order.placed", Data: json.RawMessage(`null`)}},
		},
		{
			name:   "structured string data stays a JSON string",
			header: structuredHeader(),
			body:   `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","data":"{\"a\":1}"}`,
			want:   []lianlu.Event{{ID: "E-1", Source: "shop", Type: "order.placed", Data: json.RawMessage(`"{\"a\":1}"`)}},
		},
		{
			name:   "structured empty extensions stay zero",
			header: structuredHeader(),
			body:   `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","department":"","actor":""}`,
			want:   []lianlu.Event{placed},
		},
		{
			name:       "structured missing required",
			header:     structuredHeader(),
			body:       `{}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"id", "source", "specversion", "type"},
		},
		{
			name:       "structured empty and wrongly typed required",
			header:     structuredHeader(),
			body:       `{"specversion":1.0,"id":"","source":7,"type":["a"]}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"id", "source", "specversion", "type"},
		},
		{
			name:        "structured other spec version",
			header:      structuredHeader(),
			body:        `{"specversion":"0.3","id":"E-1","source":"shop","type":"order.placed"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"specversion"},
			wantMessage: "must be 1.0",
		},
		{
			name:        "structured bad time",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","time":"yesterday"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"time"},
			wantMessage: "not an RFC 3339 timestamp",
		},
		{
			name:       "structured time out of range in UTC",
			header:     structuredHeader(),
			body:       `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","time":"0000-01-01T00:00:00+01:00"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"time"},
		},
		{
			name:       "structured empty subject and dataschema",
			header:     structuredHeader(),
			body:       `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","subject":"","dataschema":""}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"dataschema", "subject"},
		},
		{
			name:        "structured control character",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1\n","source":"shop","type":"order.placed"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"id"},
			wantMessage: "control characters",
		},
		{
			name:        "structured non-JSON datacontenttype",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","datacontenttype":"application/xml","data":"<a/>"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"datacontenttype"},
			wantMessage: "JSON media type",
		},
		{
			name:       "structured malformed datacontenttype",
			header:     structuredHeader(),
			body:       `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","datacontenttype":"json"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"datacontenttype"},
		},
		{
			name:        "structured data_base64",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","data_base64":"AAEC"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"data_base64"},
			wantMessage: "binary data is not supported; send JSON data",
		},
		{
			name:        "structured invalid attribute names",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","ID":"x","order_id":"O-1","":1}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"", "ID", "order_id"},
			wantMessage: "not a valid CloudEvents attribute name",
		},
		{
			name:        "structured composite extension",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","comexampleobj":{"a":1},"comexamplelist":[1]}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"comexamplelist", "comexampleobj"},
			wantMessage: "must be a string, number or boolean",
		},
		{
			name:        "structured mapped extension must be a string",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","department":42,"actor":true,"subject":{}}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"actor", "department", "subject"},
			wantMessage: "must be a string",
		},
		{
			name:        "structured duplicate attribute",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","id":"E-2"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"id"},
			wantMessage: "duplicate attribute",
		},
		{
			name:        "structured not an object",
			header:      structuredHeader(),
			body:        `[` + minimal + `]`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "malformed JSON: ",
		},
		{
			name:        "structured malformed JSON",
			header:      structuredHeader(),
			body:        `{"specversion":"1.0",`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "malformed JSON: ",
		},
		{
			name:        "structured trailing data",
			header:      structuredHeader(),
			body:        minimal + `{}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "malformed JSON: ",
		},
		{
			name:       "structured empty body",
			header:     structuredHeader(),
			body:       ``,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:       "structured invalid UTF-8",
			header:     structuredHeader(),
			body:       `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed","data":"` + "\xff" + `"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:     "structured other charset",
			header:   http.Header{"Content-Type": {"application/cloudevents+json; charset=latin1"}},
			body:     minimal,
			wantCode: lianlu.EUNSUPPORTED,
		},

		// Batch mode.
		{
			name:   "batch",
			header: batchHeader(),
			body:   `[` + minimal + `, {"specversion":"1.0","id":"E-2","source":"shop","type":"order.paid","data":[1, 2]}]`,
			want: []lianlu.Event{
				placed,
				{ID: "E-2", Source: "shop", Type: "order.paid", Data: json.RawMessage(`[1,2]`)},
			},
		},
		{
			name:        "batch empty",
			header:      batchHeader(),
			body:        ` [ ] `,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "at least one event",
		},
		{
			name:       "batch not an array",
			header:     batchHeader(),
			body:       minimal,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:       "batch malformed",
			header:     batchHeader(),
			body:       `[` + minimal + `,`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:        "batch over the limit",
			header:      batchHeader(),
			body:        `[` + minimal + `,` + minimal + `,` + minimal + `]`,
			opts:        CloudEventsOptions{MaxEvents: 2},
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "at most 2 events",
		},
		{
			name:   "batch at the limit",
			header: batchHeader(),
			body:   `[` + minimal + `,` + minimal + `]`,
			opts:   CloudEventsOptions{MaxEvents: 2},
			want:   []lianlu.Event{placed, placed},
		},
		{
			name:        "batch collects errors of every event",
			header:      batchHeader(),
			body:        `[` + minimal + `, {"specversion":"1.0","source":"shop","type":"t"}, 7, {"specversion":"1.0","id":"E-4","type":"t","time":"soon"}]`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"[1].id", "[2]", "[3].source", "[3].time"},
			wantMessage: "4 invalid fields",
		},

		// Binary mode.
		{
			name:   "binary minimal without data",
			header: binaryHeader("Content-Type", "<delete>"),
			body:   ``,
			want:   []lianlu.Event{placed},
		},
		{
			name: "binary full",
			header: binaryHeader(
				"Content-Type", "application/json; charset=UTF-8",
				"ce-subject", "order/O-1",
				"ce-time", "2026-03-01T08:30:00.5Z",
				"ce-dataschema", "https://example.com/order.json",
				"ce-department", "sales",
				"ce-actor", "token:shop",
				"ce-correlationid", "C-1",
				"ce-causationid", "E-0",
				"ce-comexampleflag", "true",
			),
			body: "{\n  \"order_id\": \"O-1\"\n}\n",
			want: []lianlu.Event{{
				ID: "E-1", Source: "shop", Type: "order.placed", Subject: "order/O-1",
				Time: at, DataSchema: "https://example.com/order.json",
				Department: "sales", ClaimedActor: "token:shop", CorrelationID: "C-1", CausationID: "E-0",
				Data: json.RawMessage(`{"order_id":"O-1"}`),
			}},
		},
		{
			name: "binary header names in any case",
			header: http.Header{
				"ce-specversion": {"1.0"}, "CE-ID": {"E-1"}, "Ce-Source": {"shop"}, "cE-tYpE": {"order.placed"},
				"content-type": {"application/vnd.order+json"},
			},
			body: `"hello"`,
			want: []lianlu.Event{{ID: "E-1", Source: "shop", Type: "order.placed", Data: json.RawMessage(`"hello"`)}},
		},
		{
			name: "binary percent-decoding",
			header: binaryHeader(
				"ce-subject", "Euro%20%E2%82%AC%20%f0%9f%98%80",
				"ce-actor", "a+b%25c",
				"ce-id", "%45-1",
			),
			want: []lianlu.Event{{ID: "E-1", Source: "shop", Type: "order.placed", Subject: "Euro € 😀", ClaimedActor: "a+b%c"}},
		},
		{
			name:   "binary quoted string",
			header: binaryHeader("ce-subject", ` "order \"O-1\"%21" `),
			want:   []lianlu.Event{{ID: "E-1", Source: "shop", Type: "order.placed", Subject: `order "O-1"!`}},
		},
		{
			name:        "binary overlong UTF-8",
			header:      binaryHeader("ce-subject", "%C0%A0"),
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"subject"},
			wantMessage: "UTF-8",
		},
		{
			name:        "binary malformed percent-encoding",
			header:      binaryHeader("ce-subject", "100%", "ce-actor", "%zz"),
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"actor", "subject"},
			wantMessage: "malformed percent-encoding",
		},
		{
			name:       "binary encoded control character",
			header:     binaryHeader("ce-id", "E-1%0A"),
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"id"},
		},
		{
			name:       "binary unterminated quoted string",
			header:     binaryHeader("ce-subject", `"order`),
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"subject"},
		},
		{
			name:       "binary missing required and bad values",
			header:     binaryHeader("ce-specversion", "0.3", "ce-id", "<delete>", "ce-source", "", "ce-time", "2026-03-01", "ce-subject", ""),
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"id", "source", "specversion", "subject", "time"},
		},
		{
			name:        "binary invalid attribute names",
			header:      binaryHeader("ce-order_id", "O-1", "ce-", "x", "ce-datacontenttype", "application/json", "ce-data", "{}"),
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"", "data", "datacontenttype", "order_id"},
			wantMessage: "not a valid CloudEvents attribute name",
		},
		{
			name: "binary attribute given twice",
			header: func() http.Header {
				h := binaryHeader()
				h.Add("ce-id", "E-2")
				return h
			}(),
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"id"},
		},
		{
			name:        "binary malformed JSON data",
			header:      binaryHeader(),
			body:        `{"order_id":`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"data"},
			wantMessage: "malformed JSON",
		},
		{
			name:       "binary data errors join attribute errors",
			header:     binaryHeader("ce-type", "<delete>"),
			body:       `not json`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"data", "type"},
		},
		{
			name:        "binary non-JSON data",
			header:      binaryHeader("Content-Type", "text/plain"),
			body:        `hello`,
			wantCode:    lianlu.EUNSUPPORTED,
			wantMessage: `"text/plain"`,
		},
		{
			name:     "binary data without content type",
			header:   binaryHeader("Content-Type", "<delete>"),
			body:     `{}`,
			wantCode: lianlu.EUNSUPPORTED,
		},
		{
			name:   "binary non-JSON content type with empty body",
			header: binaryHeader("Content-Type", "text/plain"),
			want:   []lianlu.Event{placed},
		},

		// Requests that are not CloudEvents requests.
		{
			name:        "plain JSON",
			header:      http.Header{"Content-Type": {"application/json"}},
			body:        minimal,
			wantCode:    lianlu.EUNSUPPORTED,
			wantMessage: "binary mode with ce-* headers",
		},
		{
			name:        "no content type",
			header:      http.Header{},
			body:        minimal,
			wantCode:    lianlu.EUNSUPPORTED,
			wantMessage: "missing Content-Type",
		},
		{
			name:     "malformed content type",
			header:   http.Header{"Content-Type": {"application/cloudevents+json; ="}},
			body:     minimal,
			wantCode: lianlu.EUNSUPPORTED,
		},
		{
			name:        "other event format even with ce headers",
			header:      binaryHeader("Content-Type", "application/cloudevents+avro"),
			body:        minimal,
			wantCode:    lianlu.EUNSUPPORTED,
			wantMessage: "application/cloudevents+avro",
		},
		{
			name:       "content type given twice",
			header:     http.Header{"Content-Type": {"application/cloudevents+json", "application/json"}},
			body:       minimal,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"Content-Type"},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCloudEvents(tt.header, []byte(tt.body), tt.opts)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v %+v", err, lianlu.ErrorFields(err))
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("events:\n got %+v\nwant %+v", got, tt.want)
				}
				return
			}
			if got != nil {
				t.Errorf("events = %+v, want nil with an error", got)
			}
			if code := lianlu.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", code, err, tt.wantCode)
			}
			if names := fieldNames(err); !slices.Equal(names, tt.wantFields) {
				t.Errorf("fields = %q, want %q (%+v)", names, tt.wantFields, lianlu.ErrorFields(err))
			}
			if tt.wantMessage != "" && !errorMentions(err, tt.wantMessage) {
				t.Errorf("error %q %+v does not mention %q", lianlu.ErrorMessage(err), lianlu.ErrorFields(err), tt.wantMessage)
			}
		})
	}
}

// errorMentions reports whether s occurs in err's message or field messages.
func errorMentions(err error, s string) bool {
	if strings.Contains(lianlu.ErrorMessage(err), s) {
		return true
	}
	for _, f := range lianlu.ErrorFields(err) {
		if strings.Contains(f.Message, s) {
			return true
		}
	}
	return false
}

func TestDecodeCloudEventsDefaultLimit(t *testing.T) {
	batch := func(n int) []byte {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"specversion":"1.0","id":"E-%d","source":"shop","type":"t"}`, i)
		}
		return []byte("[" + strings.Join(parts, ",") + "]")
	}
	tests := []struct {
		name     string
		n        int
		wantCode string
	}{
		{"at the default", DefaultMaxCloudEvents, ""},
		{"over the default", DefaultMaxCloudEvents + 1, lianlu.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCloudEvents(batchHeader(), batch(tt.n), CloudEventsOptions{})
			if code := lianlu.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", code, err, tt.wantCode)
			}
			if err == nil && len(got) != tt.n {
				t.Fatalf("got %d events, want %d", len(got), tt.n)
			}
			if err != nil && !errorMentions(err, fmt.Sprint(DefaultMaxCloudEvents)) {
				t.Errorf("error %+v does not name the limit", lianlu.ErrorFields(err))
			}
		})
	}
}

func TestNewCloudEvent(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		name  string
		event lianlu.Event
		want  string
	}{
		{
			name:  "minimal",
			event: lianlu.Event{ID: "E-1", Source: "shop", Type: "order.placed"},
			want:  `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed"}`,
		},
		{
			name: "full",
			event: lianlu.Event{
				Seq: 42, ID: "E-1", Source: "shop", Type: "order.placed", Subject: "order/O-1",
				Time:       time.Date(2026, 3, 1, 16, 30, 0, 123_456_789, shanghai),
				RecordedAt: time.Date(2026, 3, 1, 8, 30, 1, 0, time.UTC),
				Department: "sales", Actor: "token:shop", ClaimedActor: "user:7@crm", CorrelationID: "C-1", CausationID: "E-0",
				DataSchema: "https://example.com/order.json",
				Data:       json.RawMessage(`{"total":1999}`),
			},
			want: `{"specversion":"1.0","id":"E-1","source":"shop","type":"order.placed",` +
				`"subject":"order/O-1","time":"2026-03-01T08:30:00.123456789Z",` +
				`"dataschema":"https://example.com/order.json","datacontenttype":"application/json",` +
				`"data":{"total":1999},"seq":42,"recordedat":"2026-03-01T08:30:01Z",` +
				`"department":"sales","actor":"token:shop","claimedactor":"user:7@crm","correlationid":"C-1","causationid":"E-0"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(NewCloudEvent(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}

			// What NewCloudEvent writes, DecodeCloudEvents reads back,
			// apart from what only the store assigns, and the actor,
			// which another Lianlu reading it takes for a claim.
			got, err := DecodeCloudEvents(structuredHeader(), b, CloudEventsOptions{})
			if err != nil {
				t.Fatalf("decode: %v %+v", err, lianlu.ErrorFields(err))
			}
			want := tt.event
			want.Seq, want.RecordedAt = 0, time.Time{}
			want.ClaimedActor, want.Actor = want.Actor, ""
			want.Time = want.Time.UTC()
			if want.Time.IsZero() {
				want.Time = time.Time{}
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}
