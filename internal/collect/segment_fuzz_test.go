package collect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// segmentFuzzCalls are the calls FuzzDecodeSegment picks from, with one
// unknown call.
var segmentFuzzCalls = []string{
	SegmentTrack, SegmentIdentify, SegmentPage, SegmentScreen,
	SegmentGroup, SegmentAlias, SegmentBatch, "import",
}

// FuzzDecodeSegment checks that DecodeSegment never panics, fails only with
// client errors, and that every event it returns is complete, storable and
// consistent with its normalised message. The call byte's high bits also
// turn on KeepReceivedAt (bulk import) and a tracking plan in flag or
// block mode applied to the result.
func FuzzDecodeSegment(f *testing.F) {
	seeds := []struct {
		call uint8 // index in segmentFuzzCalls
		body string
	}{
		{0, `{"userId":"u1","event":"Order Completed","properties":{"revenue":12.5}}`},
		{0, `{"writeKey":"k","anonymousId":"a1","event":"E","originalTimestamp":"2026-03-01T10:00:00Z","sentAt":"2026-03-01T10:00:05Z"}`},
		{0, `{"userId":42,"event":"E","timestamp":"2026-03-01T18:00:00.5+08:00","messageId":"m1"}`},
		{0, `{"userId":"u1","event":"E","originalTimestamp":"9999-12-31T23:59:59Z","sentAt":"0000-01-01T00:00:00Z"}`},
		{0, `{"userId":"u1","event":"E","originalTimestamp":"0000-01-01T00:00:00Z","sentAt":"9999-12-31T23:59:59Z"}`},
		{0, `{"userId":"u1","event":"","properties":{"x":"\ud83d","n":1e2000}}`},
		{0, `{"userId":"u1","userId":"u2","event":"E"}`},
		{1, `{"anonymousId":"a1","traits":{"email":"li@example.com"},"context":{"ip":"1.2.3.4"}}`},
		{1, `{"userId":true,"lianlu":{"x":1},"receivedAt":"x"}`},
		{2, `{"userId":"u1","name":"Home","category":null,"timestamp":"2026-03-01T10:00:00Z"}`},
		{3, `{"anonymousId":"a\u0000"}`},
		{4, `{"userId":"u1","groupId":"g1"}`},
		{5, `{"previousId":"a1","userId":"u1"}`},
		{5, `{"previousId":7}`},
		{6, `{"writeKey":"k","sentAt":"2026-03-01T10:00:05Z","context":{"library":{"name":"go"}},"integrations":{"All":true},"batch":[` +
			`{"type":"track","userId":"u1","event":"E","context":{"ip":"1.2.3.4"}},` +
			`{"type":"identify","anonymousId":"a2"},` +
			`{"type":"alias","userId":"u3"},` +
			`{"userId":"u4"},7,null,[],` +
			`{"type":"page","anonymousId":"a5","messageId":"m5","context":null,"integrations":{"All":false}}]}`},
		{6, `{"batch":[]}`},
		{6, `{"batch":{}}`},
		{6, `{"batch":[` + strings.Repeat(`{"type":"screen","anonymousId":"a"},`, 25) + `{}]}`},
		{6, `{"context":"x","batch":[{}]}`},
		{7, `{"userId":"u1","event":"E"}`},
		{0, `{"userId":"u1",`},
		{0, `[]`},
		{0, "{\"userId\":\"\xff\"}"},
		{0, ``},
		{0x80, `{"userId":"u1","event":"E","receivedAt":"2026-03-01T09:00:00Z","sentAt":"2026-03-01T08:59:59Z","timestamp":"2026-03-01T08:59:58Z"}`},
		{0x80 | 6, `{"batch":[{"type":"track","userId":"u","event":"E","receivedAt":"2030-01-01T00:00:00Z"},{"type":"track","userId":"u","event":"E","receivedAt":5}]}`},
		{0x40 | 6, `{"batch":[{"type":"track","userId":"u","event":"Order","properties":{"id":"1"}},{"type":"track","userId":"u","event":"Order","timestamp":"2099-01-01T00:00:00Z"},{"type":"track","userId":"u","event":"Other"}]}`},
		{0x20 | 0, `{"userId":"u","event":"Order","properties":{"id":7}}`},
	}
	for _, s := range seeds {
		f.Add(s.call, []byte(s.body))
	}

	receivedAt := time.Date(2026, 3, 1, 10, 0, 10, 0, time.UTC)
	lim := SegmentLimits{MaxMessageBytes: 2048, MaxRequestBytes: 64 << 10, MaxBatchMessages: 20, MaxBatchContextBytes: 512, FutureTolerance: time.Minute}
	plans := map[string]*Plan{}
	for _, mode := range []string{lianlu.PlanFlag, lianlu.PlanBlock} {
		p, err := CompilePlan(lianlu.TrackingPlan{SourceID: 1, Mode: mode, Events: map[string]json.RawMessage{
			"Order": json.RawMessage(`{"type":"object","required":["id"],"properties":{"id":{"type":"string","maxLength":8}}}`)}})
		if err != nil {
			f.Fatal(err)
		}
		plans[mode] = p
	}
	f.Fuzz(func(t *testing.T, call uint8, body []byte) {
		keep := call&0x80 != 0
		n := 0
		newID := func() string {
			n++
			return "gen-" + strings.Repeat("x", n%3)
		}
		req := SegmentRequest{
			Call:           segmentFuzzCalls[int(call&0x1f)%len(segmentFuzzCalls)],
			Body:           body,
			ReceivedAt:     receivedAt,
			SourceID:       "fuzz",
			KeepReceivedAt: keep,
		}
		res, err := DecodeSegment(req, lim, newID)
		if err != nil {
			if code := lianlu.ErrorCode(err); code != lianlu.EINVALID && code != lianlu.ETOOLARGE {
				t.Fatalf("code %q for %v", code, err)
			}
			if res.Events != nil || res.MessageIDs != nil || res.Invalid != nil {
				t.Fatalf("result %+v returned with error %v", res, err)
			}
			return
		}
		if len(res.Events) != len(res.MessageIDs) || len(res.Events) != len(res.Indexes) {
			t.Fatalf("%d events but %d message ids and %d indexes", len(res.Events), len(res.MessageIDs), len(res.Indexes))
		}
		if req.Call != SegmentBatch && (len(res.Events) != 1 || len(res.Invalid) != 0) {
			t.Fatalf("single call result %+v", res)
		}
		var violations []lianlu.PlanViolation
		switch {
		case call&0x40 != 0:
			violations = ApplyPlan(plans[lianlu.PlanBlock], &res)
		case call&0x20 != 0:
			violations = ApplyPlan(plans[lianlu.PlanFlag], &res)
		}
		for _, v := range violations {
			if v.Rule == "" || v.Field == "" || v.EventIndex >= len(res.Events) || v.EventIndex >= 0 && res.Events[v.EventIndex].ID != v.MessageID {
				t.Fatalf("violation %+v does not match the events", v)
			}
		}
		last := -1
		for _, p := range res.Invalid {
			if p.Index < 0 {
				t.Fatalf("problem %+v has no index", p)
			}
			if p.Index < last || p.Index >= lim.MaxBatchMessages || p.Message == "" {
				t.Fatalf("problem %+v out of order or incomplete in %+v", p, res.Invalid)
			}
			last = p.Index
		}

		for i, e := range res.Events {
			if e.ID == "" || len(e.ID) > lianlu.MaxEventIDLen || e.ID != res.MessageIDs[i] {
				t.Fatalf("event %d: bad ID %q (message id %q)", i, e.ID, res.MessageIDs[i])
			}
			if e.Source != "segment:fuzz" {
				t.Fatalf("event %d: source %q", i, e.Source)
			}
			msgType, ok := strings.CutPrefix(e.Type, "segment.")
			if !ok || !segmentTypes[msgType] {
				t.Fatalf("event %d: type %q", i, e.Type)
			}
			if !strings.HasPrefix(e.Subject, "user/") && !strings.HasPrefix(e.Subject, "anon/") ||
				len(e.Subject) > lianlu.MaxEventSubjectLen || strings.ContainsRune(e.Subject, 0) {
				t.Fatalf("event %d: subject %q", i, e.Subject)
			}
			if e.Time.Location() != time.UTC || e.Time.Year() < 1 || e.Time.After(receivedAt.Add(lim.FutureTolerance)) {
				t.Fatalf("event %d: time %v", i, e.Time)
			}
			if e.Department != "" || e.Actor != "" || e.Seq != 0 || !e.RecordedAt.IsZero() {
				t.Fatalf("event %d: fields left to the caller are set: %+v", i, e)
			}

			if !json.Valid(e.Data) {
				t.Fatalf("event %d: data %q is not JSON", i, e.Data)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, e.Data); err != nil || !bytes.Equal(compact.Bytes(), e.Data) {
				t.Fatalf("event %d: data %s is not compact", i, e.Data)
			}
			if msg := unstorableJSON(e.Data); msg != "" {
				t.Fatalf("event %d: data %s %s", i, e.Data, msg)
			}
			if len(e.Data) > lim.MaxMessageBytes+512 {
				t.Fatalf("event %d: %d bytes of data", i, len(e.Data))
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(e.Data, &m); err != nil {
				t.Fatalf("event %d: data %s: %v", i, e.Data, err)
			}
			str := func(name string) string {
				var s string
				if err := json.Unmarshal(m[name], &s); err != nil {
					t.Fatalf("event %d: %s in %s: %v", i, name, e.Data, err)
				}
				return s
			}
			recv, err := time.Parse(time.RFC3339Nano, str("receivedAt"))
			if str("type") != msgType || str("messageId") != e.ID || err != nil || recv.After(receivedAt) || !keep && !recv.Equal(receivedAt) {
				t.Fatalf("event %d: data %s does not match the event %+v", i, e.Data, e)
			}
			if ts, err := time.Parse(time.RFC3339Nano, str("timestamp")); err != nil || !ts.Equal(e.Time) {
				t.Fatalf("event %d: timestamp in %s is not the event's time %v", i, e.Data, e.Time)
			}
			if _, ok := m["writeKey"]; ok {
				t.Fatalf("event %d: data %s keeps the writeKey", i, e.Data)
			}
		}
	})
}
