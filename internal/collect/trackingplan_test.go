package collect_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

const orderSchema = `{"type":"object","required":["order_id","total"],"properties":{"order_id":{"type":"string"},"total":{"type":"number","minimum":0},"currency":{"enum":["CNY","USD"]},"email":{"type":"string","format":"email"}}}`

func mustPlan(t *testing.T, mode string, allowUnplanned bool) *collect.Plan {
	t.Helper()
	p, err := collect.CompilePlan(lianlu.TrackingPlan{SourceID: 7, Mode: mode, AllowUnplanned: allowUnplanned,
		Events: map[string]json.RawMessage{"Order Completed": json.RawMessage(orderSchema), "Viewed": json.RawMessage(`true`)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompilePlan_Errors(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600)
	for name, tc := range map[string]struct {
		plan  lianlu.TrackingPlan
		field string
	}{
		"bad mode":     {lianlu.TrackingPlan{Mode: "warn"}, "mode"},
		"not json":     {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"A": json.RawMessage(`{`)}}, "events.A"},
		"bad keyword":  {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"B": json.RawMessage(`{"type":"strin"}`)}}, "events.B"},
		"file ref":     {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"C": json.RawMessage(`{"$ref":"file://` + secret + `"}`)}}, "events.C"},
		"remote ref":   {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"D": json.RawMessage(`{"$ref":"http://127.0.0.1:1/x.json"}`)}}, "events.D"},
		"empty name":   {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"": json.RawMessage(`{}`)}}, "events."},
		"huge pattern": {lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"E": json.RawMessage(`{"pattern":"(("}`)}}, "events.E"},
	} {
		_, err := collect.CompilePlan(tc.plan)
		fs := lianlu.ErrorFields(err)
		if lianlu.ErrorCode(err) != lianlu.EINVALID || len(fs) != 1 || fs[0].Field != tc.field {
			t.Errorf("%s: %v %+v", name, err, fs)
		}
	}
	// Messages say where in the schema, never the internal URL.
	for schema, want := range map[string]string{`{"properties":{"a":{"type":"strin"}}}`: "at /properties/a/type", `{"$ref":"file:///etc/passwd"}`: "only references inside the schema"} {
		_, err := collect.CompilePlan(lianlu.TrackingPlan{Mode: "flag", Events: map[string]json.RawMessage{"X": json.RawMessage(schema)}})
		if msg := lianlu.ErrorFields(err)[0].Message; !strings.Contains(msg, want) || strings.Contains(msg, "lianlu.invalid") {
			t.Errorf("%s: %q", schema, msg)
		}
	}
	// A local $ref inside the schema works.
	_, err := collect.CompilePlan(lianlu.TrackingPlan{Mode: "block", Events: map[string]json.RawMessage{
		"X": json.RawMessage(`{"$defs":{"id":{"type":"string"}},"properties":{"a":{"$ref":"#/$defs/id"}}}`)}})
	if err != nil {
		t.Fatal(err)
	}
}

func trackEvent(t *testing.T, body string) lianlu.Event {
	t.Helper()
	res, err := collect.DecodeSegment(collect.SegmentRequest{Call: "track", Body: []byte(body), ReceivedAt: time.Now(), SourceID: "7"}, collect.SegmentLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Events[0]
}

func TestPlanCheck(t *testing.T) {
	p := mustPlan(t, lianlu.PlanFlag, false)
	for name, tc := range map[string]struct {
		body  string
		rules []string // rule:field
	}{
		"valid":         {`{"userId":"u","event":"Order Completed","properties":{"order_id":"O1","total":10,"currency":"CNY"}}`, nil},
		"missing":       {`{"userId":"u","event":"Order Completed","properties":{"total":10}}`, []string{"required:properties.order_id"}},
		"no properties": {`{"userId":"u","event":"Order Completed"}`, []string{"required:properties.order_id", "required:properties.total"}},
		"wrong type":    {`{"userId":"u","event":"Order Completed","properties":{"order_id":1,"total":"10"}}`, []string{"type:properties.order_id", "type:properties.total"}},
		"enum":          {`{"userId":"u","event":"Order Completed","properties":{"order_id":"O","total":1,"currency":"EUR"}}`, []string{"enum:properties.currency"}},
		"minimum":       {`{"userId":"u","event":"Order Completed","properties":{"order_id":"O","total":-1}}`, []string{"minimum:properties.total"}},
		"format":        {`{"userId":"u","event":"Order Completed","properties":{"order_id":"O","total":1,"email":"nope"}}`, []string{"format:properties.email"}},
		"unplanned":     {`{"userId":"u","event":"Mystery"}`, []string{"unplanned:event"}},
		"true schema":   {`{"userId":"u","event":"Viewed","properties":{"any":1}}`, nil},
	} {
		vs := p.Check(trackEvent(t, tc.body))
		var got []string
		for _, v := range vs {
			got = append(got, v.Rule+":"+v.Field)
			if v.SourceID != 7 || v.MessageID == "" || v.Message == "" {
				t.Errorf("%s: incomplete violation %+v", name, v)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.rules, ",") {
			// Order of sibling errors is the validator's; compare as sets.
			if len(got) != len(tc.rules) || !sameSet(got, tc.rules) {
				t.Errorf("%s: violations %v, want %v", name, got, tc.rules)
			}
		}
	}
	// Calls other than track are not checked; allow mode checks nothing.
	res, _ := collect.DecodeSegment(collect.SegmentRequest{Call: "identify", Body: []byte(`{"userId":"u"}`), ReceivedAt: time.Now(), SourceID: "7"}, collect.SegmentLimits{}, nil)
	if vs := p.Check(res.Events[0]); vs != nil {
		t.Fatalf("identify checked: %v", vs)
	}
	if vs := mustPlan(t, lianlu.PlanAllow, false).Check(trackEvent(t, `{"userId":"u","event":"Mystery"}`)); vs != nil {
		t.Fatalf("allow mode: %v", vs)
	}
	if vs := mustPlan(t, lianlu.PlanFlag, true).Check(trackEvent(t, `{"userId":"u","event":"Mystery"}`)); vs != nil {
		t.Fatalf("unplanned allowed: %v", vs)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func decodeBatch(t *testing.T, body string) collect.SegmentResult {
	t.Helper()
	res, err := collect.DecodeSegment(collect.SegmentRequest{Call: "batch", Body: []byte(body), ReceivedAt: time.Now(), SourceID: "7"}, collect.SegmentLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const planBatch = `{"batch":[
 {"type":"track","userId":"u","event":"Order Completed","messageId":"ok","properties":{"order_id":"O","total":1}},
 {"type":"nope"},
 {"type":"track","userId":"u","event":"Order Completed","messageId":"bad","properties":{"total":1}},
 {"type":"page","userId":"u","messageId":"page"}]}`

func TestApplyPlan_Block(t *testing.T) {
	res := decodeBatch(t, planBatch)
	vs := collect.ApplyPlan(mustPlan(t, lianlu.PlanBlock, true), &res)
	if len(res.Events) != 2 || res.Events[0].ID != "ok" || res.Events[1].ID != "page" || res.Indexes[1] != 3 {
		t.Fatalf("kept %v %v", res.MessageIDs, res.Indexes)
	}
	if len(res.Invalid) != 2 || res.Invalid[0].Index != 1 || res.Invalid[1].Index != 2 || res.Invalid[1].MessageID != "bad" ||
		res.Invalid[1].Field != "properties.order_id" || !strings.Contains(res.Invalid[1].Message, "tracking plan") {
		t.Fatalf("invalid %+v", res.Invalid)
	}
	if len(vs) != 1 || vs[0].EventIndex != -1 || vs[0].Rule != "required" {
		t.Fatalf("violations %+v", vs)
	}
}

func TestApplyPlan_Flag(t *testing.T) {
	res := decodeBatch(t, planBatch)
	vs := collect.ApplyPlan(mustPlan(t, lianlu.PlanFlag, true), &res)
	if len(res.Events) != 3 || len(res.Invalid) != 1 {
		t.Fatalf("flag mode dropped messages: %v %+v", res.MessageIDs, res.Invalid)
	}
	if len(vs) != 1 || vs[0].EventIndex != 1 || vs[0].MessageID != "bad" {
		t.Fatalf("violations %+v", vs)
	}
	var data struct {
		Lianlu struct {
			Violations []struct{ Rule, Field string }
		}
		MessageID string
	}
	if err := json.Unmarshal(res.Events[1].Data, &data); err != nil {
		t.Fatalf("annotated data %s: %v", res.Events[1].Data, err)
	}
	if data.MessageID != "bad" || len(data.Lianlu.Violations) != 1 || data.Lianlu.Violations[0].Field != "properties.order_id" {
		t.Fatalf("annotation %s", res.Events[1].Data)
	}
	if strings.Contains(string(res.Events[0].Data), "violations") {
		t.Fatal("valid message annotated")
	}
}

// An annotation keeps Lianlu's other notes on the message.
func TestAnnotateViolations_KeepsClampNote(t *testing.T) {
	now := time.Now().UTC()
	body := `{"userId":"u","event":"X","timestamp":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`
	res, err := collect.DecodeSegment(collect.SegmentRequest{Call: "track", Body: []byte(body), ReceivedAt: now, SourceID: "7"}, collect.SegmentLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := collect.AnnotateViolations(res.Events[0].Data, []lianlu.PlanViolation{{Rule: "unplanned", Field: "event", Message: "m"}})
	var data struct {
		Lianlu map[string]json.RawMessage
	}
	if err := json.Unmarshal(out, &data); err != nil || string(data.Lianlu["clamped_future_timestamp"]) != "true" || data.Lianlu["violations"] == nil {
		t.Fatalf("%s %v", out, err)
	}
}
