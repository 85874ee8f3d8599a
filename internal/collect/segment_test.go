package collect

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// segmentReceivedAt is the arrival time of every test request.
var segmentReceivedAt = time.Date(2026, 3, 1, 10, 0, 10, 0, time.UTC)

// sequentialIDs returns a deterministic newID for DecodeSegment: gen-1,
// gen-2, ...
func sequentialIDs() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("gen-%d", n)
	}
}

// decodeSegment runs DecodeSegment on one request of source 7 received at
// segmentReceivedAt.
func decodeSegment(call, body string, lim SegmentLimits) (SegmentResult, error) {
	return DecodeSegment(SegmentRequest{
		Call:       call,
		Body:       []byte(body),
		ReceivedAt: segmentReceivedAt,
		SourceID:   "7",
	}, lim, sequentialIDs())
}

// jsonValue decodes JSON text for comparison by value.
func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// segmentErrorFields returns the sorted field names of err's field errors.
func segmentErrorFields(err error) []string {
	var names []string
	for _, f := range lianlu.ErrorFields(err) {
		names = append(names, f.Field)
	}
	slices.Sort(names)
	return names
}

// segmentErrorMentions reports whether s occurs in err's message or in one
// of its field messages.
func segmentErrorMentions(err error, s string) bool {
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

// received is the JSON text of segmentReceivedAt as DecodeSegment writes it.
const received = `"2026-03-01T10:00:10Z"`

func TestDecodeSegmentSingle(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		name string
		call string
		body string
		lim  SegmentLimits
		// want holds the expected ID, Type, Subject and Time; Source is
		// always segment:7.
		want lianlu.Event
		// wantData is the expected normalised message, compared by value.
		wantData string
		// wantWriteKey is the expected SegmentResult.WriteKey, with or
		// without an error.
		wantWriteKey string
		// wantCode and wantFields describe the expected error; wantMessage,
		// when set, must occur in its message or a field message.
		wantCode    string
		wantFields  []string
		wantMessage string
	}{
		// The calls.
		{
			name: "track",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Order Completed","properties":{"revenue":12.5,"currency":"CNY"}}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","event":"Order Completed","properties":{"revenue":12.5,"currency":"CNY"},
				"type":"track","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "identify with anonymousId and a given messageId",
			call: SegmentIdentify,
			body: `{"anonymousId":"a1","messageId":"m-1","traits":{"email":"li@example.com","plan":"gold"}}`,
			want: lianlu.Event{ID: "m-1", Type: "segment.identify", Subject: "anon/a1", Time: segmentReceivedAt},
			wantData: `{"anonymousId":"a1","traits":{"email":"li@example.com","plan":"gold"},
				"type":"identify","messageId":"m-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "page: userId wins over anonymousId in the subject",
			call: SegmentPage,
			body: `{"userId":"u1","anonymousId":"a1","name":"Pricing","category":"Docs","properties":{"url":"https://shop.example/pricing"}}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.page", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","anonymousId":"a1","name":"Pricing","category":"Docs","properties":{"url":"https://shop.example/pricing"},
				"type":"page","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "screen",
			call: SegmentScreen,
			body: `{"anonymousId":"a1","name":"Cart"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.screen", Subject: "anon/a1", Time: segmentReceivedAt},
			wantData: `{"anonymousId":"a1","name":"Cart",
				"type":"screen","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "group",
			call: SegmentGroup,
			body: `{"userId":"u1","groupId":"g1","traits":{"name":"Store 12"}}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.group", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","groupId":"g1","traits":{"name":"Store 12"},
				"type":"group","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "alias",
			call: SegmentAlias,
			body: `{"previousId":"a1","userId":"u1"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.alias", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"previousId":"a1","userId":"u1",
				"type":"alias","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "the call sets the type",
			call: SegmentTrack,
			body: `{"type":"identify","userId":"u1","event":"Viewed"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","event":"Viewed",
				"type":"track","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},

		// Identifiers.
		{
			name:       "no userId nor anonymousId",
			call:       SegmentTrack,
			body:       `{"event":"Viewed","properties":{}}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"userId"},
		},
		{
			name:       "empty and null ids count as absent",
			call:       SegmentIdentify,
			body:       `{"userId":"","anonymousId":null}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"userId"},
		},
		{
			name: "numeric ids become strings",
			call: SegmentGroup,
			body: `{"userId":42,"anonymousId":-7,"groupId":9001,"messageId":123}`,
			want: lianlu.Event{ID: "123", Type: "segment.group", Subject: "user/42", Time: segmentReceivedAt},
			wantData: `{"userId":"42","anonymousId":"-7","groupId":"9001",
				"type":"group","messageId":"123","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name:       "ids of other kinds",
			call:       SegmentTrack,
			body:       `{"userId":true,"anonymousId":{"id":"a1"},"event":"Viewed"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"anonymousId", "userId"},
		},
		{
			name:        "control characters in an id",
			call:        SegmentTrack,
			body:        `{"userId":"u1\n","event":"Viewed"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"userId"},
			wantMessage: "control characters",
		},
		{
			name:        "an id too long",
			call:        SegmentTrack,
			body:        `{"anonymousId":"` + strings.Repeat("a", 257) + `","event":"Viewed"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"anonymousId"},
			wantMessage: "longer than 256 bytes",
		},
		{
			name: "an id of 256 bytes",
			call: SegmentTrack,
			body: `{"anonymousId":"` + strings.Repeat("a", 256) + `","event":"Viewed"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "anon/" + strings.Repeat("a", 256), Time: segmentReceivedAt},
		},
		{
			name:       "a messageId too long",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed","messageId":"` + strings.Repeat("m", 257) + `"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"messageId"},
		},
		{
			name: "an empty messageId is assigned",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","messageId":""}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name:       "alias needs previousId and userId",
			call:       SegmentAlias,
			body:       `{"anonymousId":"a1"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"previousId", "userId"},
		},
		{
			name:       "group needs groupId",
			call:       SegmentGroup,
			body:       `{"userId":"u1","groupId":""}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"groupId"},
		},
		{
			name:       "group needs a user too",
			call:       SegmentGroup,
			body:       `{"groupId":"g1"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"userId"},
		},

		// Track's event name.
		{
			name:       "track without event",
			call:       SegmentTrack,
			body:       `{"userId":"u1"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"event"},
		},
		{
			name:       "track with an empty event",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":""}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"event"},
		},
		{
			name:        "track with a numeric event",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":5}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"event"},
			wantMessage: "must be a string",
		},
		{
			name:        "track with an event name too long",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"` + strings.Repeat("e", 257) + `"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"event"},
			wantMessage: "longer than 256 bytes",
		},
		{
			name:       "every problem is reported",
			call:       SegmentTrack,
			body:       `{"event":7,"timestamp":"now","context":[]}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"context", "event", "timestamp", "userId"},
		},

		// writeKey and fields Lianlu manages.
		{
			name:         "writeKey is returned and removed",
			call:         SegmentTrack,
			body:         `{"writeKey":"wk_123","userId":"u1","event":"Viewed"}`,
			want:         lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantWriteKey: "wk_123",
			wantData: `{"userId":"u1","event":"Viewed",
				"type":"track","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name:         "writeKey is returned with an invalid message",
			call:         SegmentTrack,
			body:         `{"writeKey":"wk_123","event":"Viewed"}`,
			wantWriteKey: "wk_123",
			wantCode:     lianlu.EINVALID,
			wantFields:   []string{"userId"},
		},
		{
			name:       "writeKey not a string",
			call:       SegmentTrack,
			body:       `{"writeKey":12,"userId":"u1","event":"Viewed"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"writeKey"},
		},
		{
			name: "the client's receivedAt and lianlu are replaced",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","receivedAt":"2020-01-01T00:00:00Z","lianlu":{"clamped_future_timestamp":true}}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","event":"Viewed",
				"type":"track","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},

		// Timestamps.
		{
			name: "clock skew corrected",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-01T10:00:00Z","sentAt":"2026-03-01T10:00:05Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: at("2026-03-01T10:00:05Z")},
			wantData: `{"userId":"u1","event":"Viewed","type":"track","messageId":"gen-1",
				"originalTimestamp":"2026-03-01T10:00:00Z","sentAt":"2026-03-01T10:00:05Z",
				"receivedAt":` + received + `,"timestamp":"2026-03-01T10:00:05Z"}`,
		},
		{
			name: "clock skew of a device an hour behind, with offsets and fractions",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-01T16:59:58.250+08:00","sentAt":"2026-03-01T09:00:09Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: at("2026-03-01T09:59:59.25Z")},
			wantData: `{"userId":"u1","event":"Viewed","type":"track","messageId":"gen-1",
				"originalTimestamp":"2026-03-01T16:59:58.250+08:00","sentAt":"2026-03-01T09:00:09Z",
				"receivedAt":` + received + `,"timestamp":"2026-03-01T09:59:59.25Z"}`,
		},
		{
			name: "a given timestamp is the original timestamp",
			call: SegmentIdentify,
			body: `{"userId":"u1","timestamp":"2026-02-01T18:00:00.123+08:00"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.identify", Subject: "user/u1", Time: at("2026-02-01T10:00:00.123Z")},
			wantData: `{"userId":"u1","type":"identify","messageId":"gen-1",
				"originalTimestamp":"2026-02-01T18:00:00.123+08:00",
				"receivedAt":` + received + `,"timestamp":"2026-02-01T10:00:00.123Z"}`,
		},
		{
			name: "a given timestamp is corrected with sentAt",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Imported","timestamp":"2025-01-01T00:00:00Z","sentAt":"2026-03-01T10:00:00Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: at("2025-01-01T00:00:10Z")},
		},
		{
			name: "originalTimestamp wins over timestamp",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","timestamp":"2026-03-01T09:00:00Z","originalTimestamp":"2026-03-01T08:00:00Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: at("2026-03-01T08:00:00Z")},
			wantData: `{"userId":"u1","event":"Viewed","type":"track","messageId":"gen-1",
				"originalTimestamp":"2026-03-01T08:00:00Z",
				"receivedAt":` + received + `,"timestamp":"2026-03-01T08:00:00Z"}`,
		},
		{
			name: "sentAt alone leaves receivedAt",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","sentAt":"2026-03-01T09:00:00Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name: "null and empty timestamps count as absent",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","timestamp":null,"originalTimestamp":"","sentAt":null}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","event":"Viewed",
				"type":"track","messageId":"gen-1","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			name: "a future timestamp is clamped and flagged",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-02T10:00:00Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
			wantData: `{"userId":"u1","event":"Viewed","type":"track","messageId":"gen-1",
				"originalTimestamp":"2026-03-02T10:00:00Z",
				"receivedAt":` + received + `,"timestamp":` + received + `,
				"lianlu":{"clamped_future_timestamp":true}}`,
		},
		{
			name: "a corrected timestamp in the future is clamped",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-01T12:00:00Z","sentAt":"2026-03-01T10:00:00Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name: "a timestamp within the tolerance is kept",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-01T10:05:10Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: at("2026-03-01T10:05:10Z")},
		},
		{
			name: "the tolerance is configurable",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"2026-03-01T10:00:12Z"}`,
			lim:  SegmentLimits{FutureTolerance: time.Second},
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name:       "unparsable timestamps",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed","timestamp":"yesterday","originalTimestamp":1700000000,"sentAt":"2026-03-01 10:00:00"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"originalTimestamp", "sentAt", "timestamp"},
		},
		{
			name:        "a timestamp without an offset",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","timestamp":"2026-03-01T10:00:00"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"timestamp"},
			wantMessage: "RFC 3339",
		},
		{
			name:        "a timestamp more than a day ahead is refused, not clamped",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","timestamp":"9999-12-31T00:00:00Z"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"timestamp"},
			wantMessage: "more than a day",
		},
		{
			name:        "a corrected timestamp before 2000 is refused",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","originalTimestamp":"1970-01-01T00:00:00Z","sentAt":"2026-03-01T10:00:00Z"}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"timestamp"},
			wantMessage: "before 2000",
		},
		{
			name: "a client clock decades off is corrected, not refused",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","originalTimestamp":"1970-01-01T00:00:00Z","sentAt":"1970-01-01T00:00:10Z"}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt.Add(-10 * time.Second)},
		},
		{
			name:        "properties nested too deep",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","properties":` + strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat(`}`, 32) + `}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"properties" + strings.Repeat(".a", 31)},
			wantMessage: "nested deeper than 32",
		},
		{
			name:       "a timestamp before year 1",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed","timestamp":"0001-01-01T00:00:00+01:00"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"timestamp"},
		},

		// The body.
		{
			name: "whitespace is compacted",
			call: SegmentTrack,
			body: "{\n  \"userId\" : \"u1\",\n  \"event\": \"Viewed\",\n  \"properties\": { \"tags\": [ 1, 2 ] }\n}\n",
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name:       "malformed JSON",
			call:       SegmentTrack,
			body:       `{"userId":"u1",`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:        "not an object",
			call:        SegmentTrack,
			body:        `[{"userId":"u1","event":"Viewed"}]`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "malformed JSON",
		},
		{
			name:       "data after the object",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed"} {}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:       "not UTF-8",
			call:       SegmentTrack,
			body:       "{\"userId\":\"u\xff\",\"event\":\"Viewed\"}",
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"body"},
		},
		{
			name:       "duplicate key",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed","userId":"u2"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"userId"},
		},
		{
			name:        "NUL escape",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","properties":{"note":"a\u0000b"}}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"properties"},
			wantMessage: "cannot be stored",
		},
		{
			name:        "unpaired surrogate",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","properties":{"emoji":"\ud83d"}}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"properties"},
			wantMessage: "surrogate",
		},
		{
			name: "a surrogate pair",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","properties":{"emoji":"\ud83d\ude00"}}`,
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name:        "a number out of range",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","properties":{"n":1e5000}}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"properties"},
			wantMessage: "exponent",
		},
		{
			name:       "context and integrations must be objects",
			call:       SegmentTrack,
			body:       `{"userId":"u1","event":"Viewed","context":"web","integrations":[true]}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"context", "integrations"},
		},
		{
			name:        "a message too large",
			call:        SegmentTrack,
			body:        `{"userId":"u1","event":"Viewed","properties":{"note":"` + strings.Repeat("x", 200) + `"}}`,
			lim:         SegmentLimits{MaxMessageBytes: 200},
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"body"},
			wantMessage: "message larger than 200 bytes",
		},
		{
			name: "added fields do not count against the message limit",
			call: SegmentTrack,
			body: `{"userId":"u1","event":"Viewed","properties":{"note":"` + strings.Repeat("x", 140) + `"}}`, // 197 bytes
			lim:  SegmentLimits{MaxMessageBytes: 200},
			want: lianlu.Event{ID: "gen-1", Type: "segment.track", Subject: "user/u1", Time: segmentReceivedAt},
		},
		{
			name:     "a request too large",
			call:     SegmentTrack,
			body:     `{"userId":"u1","event":"Viewed","properties":{"note":"` + strings.Repeat("x", 2000) + `"}}`,
			lim:      SegmentLimits{MaxRequestBytes: 1000},
			wantCode: lianlu.ETOOLARGE,
		},
		{
			name:       "an unknown call",
			call:       "import",
			body:       `{"userId":"u1","event":"Viewed"}`,
			wantCode:   lianlu.EINVALID,
			wantFields: []string{"call"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := decodeSegment(tt.call, tt.body, tt.lim)
			if res.WriteKey != tt.wantWriteKey {
				t.Errorf("WriteKey %q, want %q", res.WriteKey, tt.wantWriteKey)
			}
			if tt.wantCode != "" {
				if code := lianlu.ErrorCode(err); code != tt.wantCode {
					t.Fatalf("error %v (code %q), want code %q", err, code, tt.wantCode)
				}
				if got := segmentErrorFields(err); tt.wantFields != nil && !slices.Equal(got, tt.wantFields) {
					t.Errorf("error fields %q, want %q (%+v)", got, tt.wantFields, lianlu.ErrorFields(err))
				}
				if tt.wantMessage != "" && !segmentErrorMentions(err, tt.wantMessage) {
					t.Errorf("error %v %+v does not mention %q", err, lianlu.ErrorFields(err), tt.wantMessage)
				}
				if res.Events != nil || res.MessageIDs != nil || res.Invalid != nil {
					t.Errorf("result %+v returned with an error", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v %+v", err, lianlu.ErrorFields(err))
			}
			if len(res.Events) != 1 || len(res.Invalid) != 0 {
				t.Fatalf("result %+v, want one event", res)
			}
			e := res.Events[0]
			if !slices.Equal(res.MessageIDs, []string{e.ID}) {
				t.Errorf("MessageIDs %q, want [%q]", res.MessageIDs, e.ID)
			}
			want := tt.want
			want.Source = "segment:7"
			data := e.Data
			e.Data = nil
			if !reflect.DeepEqual(e, want) {
				t.Errorf("event\n got %+v\nwant %+v", e, want)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil || !bytes.Equal(compact.Bytes(), data) {
				t.Errorf("data %s is not compact JSON", data)
			}
			if tt.wantData != "" && !reflect.DeepEqual(jsonValue(t, data), jsonValue(t, []byte(tt.wantData))) {
				t.Errorf("data\n got %s\nwant %s", data, tt.wantData)
			}
		})
	}
}

func TestDecodeSegmentDataKeepsOrder(t *testing.T) {
	res, err := decodeSegment(SegmentTrack,
		`{"writeKey":"k","properties":{"b":1,"a":2},"userId":7,"event":"E","context":{"ip":"1.2.3.4"},"originalTimestamp":"2026-03-01T10:00:00Z"}`,
		SegmentLimits{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"properties":{"b":1,"a":2},"userId":"7","event":"E","context":{"ip":"1.2.3.4"},` +
		`"type":"track","messageId":"gen-1","originalTimestamp":"2026-03-01T10:00:00Z",` +
		`"receivedAt":"2026-03-01T10:00:10Z","timestamp":"2026-03-01T10:00:00Z"}`
	if got := string(res.Events[0].Data); got != want {
		t.Errorf("data\n got %s\nwant %s", got, want)
	}
}

func TestDecodeSegmentBatch(t *testing.T) {
	body := `{
		"writeKey": "wk_batch",
		"sentAt": "2026-03-01T10:00:05Z",
		"context": {"library": {"name": "analytics-go"}, "ip": "1.2.3.4"},
		"integrations": {"All": true},
		"batch": [
			{"type": "track", "userId": "u1", "event": "A", "messageId": "m1",
			 "originalTimestamp": "2026-03-01T10:00:00Z", "context": {"ip": "5.6.7.8"}},
			{"type": "identify", "anonymousId": "a2", "traits": {"plan": "gold"}},
			{"type": "track", "userId": "u3", "messageId": "m3"},
			{"userId": "u4"},
			7,
			{"type": "alias", "userId": "u5", "previousId": "a5", "messageId": "m5",
			 "integrations": {"All": false, "Mixpanel": true}, "sentAt": "2026-03-01T10:00:09Z"},
			{"type": "group", "userId": "u6", "messageId": "m6", "timestamp": "soon"},
			{"type": "page", "anonymousId": "a7", "writeKey": "wk_other", "context": null},
			{"type": "Track", "userId": "u8", "event": "B", "messageId": "` + strings.Repeat("m", 300) + `"}
		]
	}`
	res, err := decodeSegment(SegmentBatch, body, SegmentLimits{})
	if err != nil {
		t.Fatalf("error %v %+v", err, lianlu.ErrorFields(err))
	}
	if res.WriteKey != "wk_batch" {
		t.Errorf("WriteKey %q", res.WriteKey)
	}
	wantProblems := []SegmentProblem{
		{Index: 2, MessageID: "m3", Field: "event", Message: "required"},
		{Index: 3, Field: "type", Message: "required: one of track, identify, page, screen, group, alias"},
		{Index: 4, Message: "must be a JSON object"},
		{Index: 6, MessageID: "m6", Field: "groupId", Message: "required"},
		{Index: 6, MessageID: "m6", Field: "timestamp", Message: "not an RFC 3339 timestamp"},
		{Index: 8, Field: "type", Message: "must be one of track, identify, page, screen, group, alias"},
	}
	if !reflect.DeepEqual(res.Invalid, wantProblems) {
		t.Errorf("Invalid\n got %+v\nwant %+v", res.Invalid, wantProblems)
	}

	sentAt := `"2026-03-01T10:00:05Z"`
	batchContext := `{"library":{"name":"analytics-go"},"ip":"1.2.3.4"}`
	want := []struct {
		event lianlu.Event
		data  string
	}{
		{
			lianlu.Event{ID: "m1", Type: "segment.track", Subject: "user/u1", Time: time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)},
			`{"userId":"u1","event":"A","context":{"ip":"5.6.7.8","library":{"name":"analytics-go"}},"integrations":{"All":true},
			  "type":"track","messageId":"m1","originalTimestamp":"2026-03-01T10:00:00Z","sentAt":` + sentAt + `,
			  "receivedAt":` + received + `,"timestamp":"2026-03-01T10:00:05Z"}`,
		},
		{
			lianlu.Event{ID: "gen-1", Type: "segment.identify", Subject: "anon/a2", Time: segmentReceivedAt},
			`{"anonymousId":"a2","traits":{"plan":"gold"},"context":` + batchContext + `,"integrations":{"All":true},
			  "type":"identify","messageId":"gen-1","sentAt":` + sentAt + `,"receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			lianlu.Event{ID: "m5", Type: "segment.alias", Subject: "user/u5", Time: segmentReceivedAt},
			`{"userId":"u5","previousId":"a5","integrations":{"All":false,"Mixpanel":true},"context":` + batchContext + `,
			  "type":"alias","messageId":"m5","sentAt":"2026-03-01T10:00:09Z","receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
		{
			lianlu.Event{ID: "gen-2", Type: "segment.page", Subject: "anon/a7", Time: segmentReceivedAt},
			`{"anonymousId":"a7","context":` + batchContext + `,"integrations":{"All":true},
			  "type":"page","messageId":"gen-2","sentAt":` + sentAt + `,"receivedAt":` + received + `,"timestamp":` + received + `}`,
		},
	}
	if len(res.Events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(res.Events), len(want), res.Events)
	}
	if !slices.Equal(res.MessageIDs, []string{"m1", "gen-1", "m5", "gen-2"}) {
		t.Errorf("MessageIDs %q", res.MessageIDs)
	}
	for i, w := range want {
		e := res.Events[i]
		data := e.Data
		e.Data = nil
		w.event.Source = "segment:7"
		if !reflect.DeepEqual(e, w.event) {
			t.Errorf("event %d\n got %+v\nwant %+v", i, e, w.event)
		}
		if !reflect.DeepEqual(jsonValue(t, data), jsonValue(t, []byte(w.data))) {
			t.Errorf("event %d data\n got %s\nwant %s", i, data, w.data)
		}
	}
}

func TestDecodeSegmentBatchErrors(t *testing.T) {
	items := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"type":"track","userId":"u%d","event":"E"}`, i)
		}
		return `{"batch":[` + strings.Join(parts, ",") + `]}`
	}
	tests := []struct {
		name        string
		body        string
		lim         SegmentLimits
		wantCode    string
		wantFields  []string
		wantMessage string
	}{
		{name: "no batch", body: `{"writeKey":"k"}`, wantCode: lianlu.EINVALID, wantFields: []string{"batch"}},
		{name: "null batch", body: `{"batch":null}`, wantCode: lianlu.EINVALID, wantFields: []string{"batch"}},
		{name: "empty batch", body: `{"batch":[]}`, wantCode: lianlu.EINVALID, wantFields: []string{"batch"}},
		{name: "batch not an array", body: `{"batch":{"type":"track"}}`, wantCode: lianlu.EINVALID, wantFields: []string{"batch"}},
		{name: "duplicate batch", body: `{"batch":[],"batch":[]}`, wantCode: lianlu.EINVALID, wantFields: []string{"batch"}},
		{name: "body not an object", body: `[]`, wantCode: lianlu.EINVALID, wantFields: []string{"body"}},
		{
			name:        "too many messages",
			body:        items(4),
			lim:         SegmentLimits{MaxBatchMessages: 3},
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"batch"},
			wantMessage: "at most 3 messages",
		},
		{
			name:        "more than the default limit",
			body:        items(DefaultSegmentMaxBatchMessages + 1),
			lim:         SegmentLimits{MaxRequestBytes: 1 << 20},
			wantCode:    lianlu.EINVALID,
			wantMessage: "at most 2500 messages",
		},
		{name: "context not an object", body: `{"context":"web","batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"context"}},
		{name: "integrations not an object", body: `{"integrations":true,"batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"integrations"}},
		{name: "duplicate key in context", body: `{"context":{"ip":"a","ip":"b"},"batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"context"}},
		{name: "NUL in context", body: `{"context":{"ip":"\u0000"},"batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"context"}},
		{
			name:        "context too large",
			body:        `{"context":{"x":"` + strings.Repeat("x", 300) + `"},"batch":[{}]}`,
			lim:         SegmentLimits{MaxBatchContextBytes: 200},
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"context"},
			wantMessage: "larger than 200 bytes",
		},
		{
			name:        "context and integrations too large together",
			body:        `{"context":{"x":"` + strings.Repeat("x", 100) + `"},"integrations":{"y":"` + strings.Repeat("y", 100) + `"},"batch":[{}]}`,
			lim:         SegmentLimits{MaxBatchContextBytes: 200},
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"integrations"},
			wantMessage: "larger than 200 bytes",
		},
		{
			name:        "context over the default limit",
			body:        `{"context":{"x":"` + strings.Repeat("x", 5000) + `"},"batch":[{}]}`,
			wantCode:    lianlu.EINVALID,
			wantFields:  []string{"context"},
			wantMessage: "larger than 4096 bytes",
		},
		{name: "bad sentAt", body: `{"sentAt":"later","batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"sentAt"}},
		{name: "writeKey not a string", body: `{"writeKey":["k"],"batch":[{}]}`, wantCode: lianlu.EINVALID, wantFields: []string{"writeKey"}},
		{name: "request too large", body: items(100), lim: SegmentLimits{MaxRequestBytes: 1000}, wantCode: lianlu.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := decodeSegment(SegmentBatch, tt.body, tt.lim)
			if code := lianlu.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("error %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if got := segmentErrorFields(err); tt.wantFields != nil && !slices.Equal(got, tt.wantFields) {
				t.Errorf("error fields %q, want %q", got, tt.wantFields)
			}
			if tt.wantMessage != "" && !segmentErrorMentions(err, tt.wantMessage) {
				t.Errorf("error %v %+v does not mention %q", err, lianlu.ErrorFields(err), tt.wantMessage)
			}
			if res.Events != nil || res.Invalid != nil {
				t.Errorf("result %+v returned with an error", res)
			}
		})
	}

	t.Run("the limit itself", func(t *testing.T) {
		res, err := decodeSegment(SegmentBatch, items(DefaultSegmentMaxBatchMessages), SegmentLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != DefaultSegmentMaxBatchMessages {
			t.Errorf("%d events", len(res.Events))
		}
	})
}

func TestDecodeSegmentBatchMessageSize(t *testing.T) {
	note := func(n int) string { return strings.Repeat("x", n) }
	body := `{"context":{"page":"` + note(60) + `"},"batch":[
		{"type":"track","userId":"u0","event":"E"},
		{"type":"track","userId":"u1","event":"E","properties":{"note":"` + note(300) + `"}},
		{"type":"track","userId":"u2","event":"E","properties":{"note":"` + note(90) + `"}},
		{"type":"track","userId":"u3","event":"E","properties":{"note":"` + note(60) + `"},"context":{"page":"p"}}
	]}`
	res, err := decodeSegment(SegmentBatch, body, SegmentLimits{MaxMessageBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	// Message 1 is too large alone, message 2 only with the batch's context
	// merged in; message 3 overrides the batch's context with a short one.
	want := []SegmentProblem{
		{Index: 1, Message: "message larger than 200 bytes"},
		{Index: 2, Message: "message larger than 200 bytes"},
	}
	if !reflect.DeepEqual(res.Invalid, want) {
		t.Errorf("Invalid %+v, want %+v", res.Invalid, want)
	}
	if len(res.Events) != 2 || res.Events[0].Subject != "user/u0" || res.Events[1].Subject != "user/u3" {
		t.Errorf("events %+v", res.Events)
	}
}

func TestDecodeSegmentBatchAllInvalid(t *testing.T) {
	res, err := decodeSegment(SegmentBatch, `{"batch":[{"type":"track"},null]}`, SegmentLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 0 || len(res.MessageIDs) != 0 || len(res.Invalid) != 3 {
		t.Errorf("result %+v, want no events and three problems", res)
	}
}

func TestDecodeSegmentRandomMessageID(t *testing.T) {
	req := SegmentRequest{Call: SegmentTrack, Body: []byte(`{"userId":"u1","event":"E"}`), ReceivedAt: segmentReceivedAt, SourceID: "7"}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 3 {
		res, err := DecodeSegment(req, SegmentLimits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := res.Events[0].ID
		if !uuid.MatchString(id) || seen[id] {
			t.Errorf("assigned messageId %q is not a fresh UUID", id)
		}
		seen[id] = true
	}
}

func TestDecodeSegmentCallerBugs(t *testing.T) {
	ok := SegmentRequest{Call: SegmentTrack, Body: []byte(`{"userId":"u1","event":"E"}`), ReceivedAt: segmentReceivedAt, SourceID: "7"}
	for name, req := range map[string]SegmentRequest{
		"no source":      {Call: ok.Call, Body: ok.Body, ReceivedAt: ok.ReceivedAt},
		"no receivedAt":  {Call: ok.Call, Body: ok.Body, SourceID: ok.SourceID},
		"long source id": {Call: ok.Call, Body: ok.Body, ReceivedAt: ok.ReceivedAt, SourceID: strings.Repeat("s", 600)},
	} {
		if _, err := DecodeSegment(req, SegmentLimits{}, nil); lianlu.ErrorCode(err) != lianlu.EINTERNAL {
			t.Errorf("%s: error %v, want an internal error", name, err)
		}
	}
}

func TestUnstorableJSON(t *testing.T) {
	tests := []struct {
		json string
		bad  bool
	}{
		{`{"a":"b","n":[1,-2.5,3e10,4E-7]}`, false},
		{`"\u0000"`, true},
		{`{"k\u0000":1}`, true},
		{`"\\u0000"`, false}, // an escaped backslash, then text
		{`"\\\u0000"`, true},
		{`"\u00001"`, true},
		{`"\ud83d\ude00"`, false},
		{`"\uD83D\uDE00"`, false},
		{`"\ud83d"`, true},
		{`"\ud83dx"`, true},
		{`"\ud83d\u0041"`, true},
		{`"\ude00"`, true},
		{`"\ud83d\\ude00"`, true},
		{`1e1000`, false},
		{`-1E+1000`, false},
		{`1e1001`, true},
		{`1.5e-1001`, true},
		{`1e99999999999999999999`, true},
		{`"1e5000"`, false},
		{`[` + strings.Repeat("1", 1000) + `]`, false},
		{`[` + strings.Repeat("1", 1001) + `]`, true},
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.json)) {
			t.Fatalf("test case %s is not JSON", tt.json)
		}
		if got := unstorableJSON([]byte(tt.json)); (got != "") != tt.bad {
			t.Errorf("unstorableJSON(%s) = %q, want bad %v", tt.json, got, tt.bad)
		}
	}
}

// gzipped compresses data into one gzip member.
func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestGunzipLimited(t *testing.T) {
	body := []byte(`{"batch":[{"type":"track","userId":"u1","event":"E"}]}`)
	good := gzipped(t, body)
	corrupted := bytes.Clone(good)
	corrupted[len(corrupted)-6] ^= 0xff // inside the CRC-32
	bomb := gzipped(t, make([]byte, 10<<20))
	errBroken := errors.New("connection reset")

	tests := []struct {
		name     string
		r        io.Reader
		limit    int64
		want     []byte
		wantCode string
	}{
		{name: "ok", r: bytes.NewReader(good), limit: 1 << 10, want: body},
		{name: "exactly the limit", r: bytes.NewReader(good), limit: int64(len(body)), want: body},
		{name: "one byte over the limit", r: bytes.NewReader(good), limit: int64(len(body)) - 1, wantCode: lianlu.ETOOLARGE},
		{name: "empty content", r: bytes.NewReader(gzipped(t, nil)), limit: 10, want: []byte{}},
		{name: "two members", r: io.MultiReader(bytes.NewReader(good), bytes.NewReader(gzipped(t, []byte("!")))), limit: 1 << 10, want: append(bytes.Clone(body), '!')},
		{name: "zip bomb", r: bytes.NewReader(bomb), limit: 500 << 10, wantCode: lianlu.ETOOLARGE},
		{name: "not gzip", r: strings.NewReader(string(body)), limit: 1 << 10, wantCode: lianlu.EINVALID},
		{name: "empty body", r: strings.NewReader(""), limit: 1 << 10, wantCode: lianlu.EINVALID},
		{name: "truncated", r: bytes.NewReader(good[:len(good)-10]), limit: 1 << 10, wantCode: lianlu.EINVALID},
		{name: "bad checksum", r: bytes.NewReader(corrupted), limit: 1 << 10, wantCode: lianlu.EINVALID},
		{name: "trailing garbage", r: io.MultiReader(bytes.NewReader(good), strings.NewReader("garbage")), limit: 1 << 10, wantCode: lianlu.EINVALID},
		{
			name:     "compressed body over the reader's limit",
			r:        httptestBody(bomb, 1000),
			limit:    1 << 30,
			wantCode: lianlu.ETOOLARGE,
		},
		{name: "broken connection", r: &failingReader{data: good[:20], err: errBroken}, limit: 1 << 10, wantCode: lianlu.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GunzipLimited(tt.r, tt.limit)
			if code := lianlu.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("error %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if tt.wantCode == lianlu.EINTERNAL && !errors.Is(err, errBroken) {
				t.Errorf("error %v does not wrap the reader's error", err)
			}
			if tt.wantCode == "" && !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.wantCode != "" && got != nil {
				t.Errorf("data returned with an error")
			}
		})
	}
}

// httptestBody returns data as a request body that http.MaxBytesReader
// limits to n bytes.
func httptestBody(data []byte, n int64) io.Reader {
	return http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(data)), n)
}
