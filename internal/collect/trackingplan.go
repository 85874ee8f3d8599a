package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/lianlu/lianlu"
)

// Limits of a tracking plan.
const (
	MaxPlanEvents      = 500
	MaxPlanSchemaBytes = 64 << 10
	// MaxViolationsPerMessage bounds what one message can add to the
	// tally and to its own annotation.
	MaxViolationsPerMessage = 10
)

// RuleUnplanned is the rule of a track call whose event the plan does not
// name, when the plan does not allow unplanned events.
const RuleUnplanned = "unplanned"

// Plan is a compiled tracking plan, safe for concurrent use.
type Plan struct {
	SourceID       int64
	Mode           string
	AllowUnplanned bool
	schemas        map[string]*jsonschema.Schema
}

var printer = message.NewPrinter(language.English)

// CompilePlan checks and compiles a tracking plan. EINVALID names the bad
// mode or the event whose schema does not compile ("events.<name>").
// Schemas cannot load other documents: $ref reaches only inside the
// schema itself, never files or URLs.
func CompilePlan(p lianlu.TrackingPlan) (*Plan, error) {
	var errs []lianlu.FieldError
	if !slices.Contains(lianlu.PlanModes, p.Mode) {
		errs = append(errs, lianlu.FieldError{Field: "mode", Message: "one of " + strings.Join(lianlu.PlanModes, ", ")})
	}
	if len(p.Events) > MaxPlanEvents {
		errs = append(errs, lianlu.FieldError{Field: "events", Message: fmt.Sprintf("at most %d events", MaxPlanEvents)})
	}
	plan := &Plan{SourceID: p.SourceID, Mode: p.Mode, AllowUnplanned: p.AllowUnplanned, schemas: make(map[string]*jsonschema.Schema, len(p.Events))}
	names := make([]string, 0, len(p.Events))
	for name := range p.Events {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := "events." + name
		raw := p.Events[name]
		switch {
		case name == "" || len(name) > MaxSegmentEventNameLen:
			errs = append(errs, lianlu.FieldError{Field: field, Message: fmt.Sprintf("event names hold 1 to %d bytes", MaxSegmentEventNameLen)})
			continue
		case len(raw) > MaxPlanSchemaBytes:
			errs = append(errs, lianlu.FieldError{Field: field, Message: fmt.Sprintf("schema larger than %d bytes", MaxPlanSchemaBytes)})
			continue
		}
		sch, err := compileSchema(planSchemaURL, raw)
		if err != nil {
			errs = append(errs, lianlu.FieldError{Field: field, Message: err.Error()})
			continue
		}
		plan.schemas[name] = sch
	}
	if len(errs) > 0 {
		return nil, lianlu.Invalid(errs...)
	}
	return plan, nil
}

// planSchemaURL names each plan schema inside its own compiler; the
// document is added directly, so nothing is ever fetched from it.
const planSchemaURL = "https://lianlu.invalid/tracking-plan/event.json"

// noLoader refuses every external document, so that a schema sent by a
// client cannot make the server read a file or fetch a URL.
var noLoader = jsonschema.SchemeURLLoader{}

// compileSchema compiles one JSON Schema document with formats asserted.
func compileSchema(loc string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader)
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("not a schema: %v", err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("not a valid JSON Schema: %s", schemaError(err))
	}
	return sch, nil
}

// schemaError says what is wrong with a schema, where in it, in words a
// client can act on: the library's text names the document's internal
// URL, which the client never gave.
func schemaError(err error) string {
	var sve *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	var re *jsonschema.InvalidRegexError
	var le *jsonschema.LoadURLError
	switch {
	case errors.As(err, &le):
		return fmt.Sprintf("$ref %q: only references inside the schema itself are allowed", le.URL)
	case errors.As(err, &sve) && errors.As(sve.Err, &ve):
		for len(ve.Causes) > 0 {
			ve = ve.Causes[0]
		}
		return "at " + schemaPointer(ve.InstanceLocation) + ": " + ve.ErrorKind.LocalizedString(printer)
	case errors.As(err, &re):
		return fmt.Sprintf("pattern %q is not a valid regular expression", re.Regex)
	}
	msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "jsonschema: "), strconv.Quote(planSchemaURL), "the schema")
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// schemaPointer is the JSON pointer of a location in a schema, "/" for
// its root.
func schemaPointer(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// Check returns how a decoded Segment event breaks the plan: nil for an
// event that is not a track call or that keeps to the plan. The messageId
// of each violation is the event's ID.
func (p *Plan) Check(e lianlu.Event) []lianlu.PlanViolation {
	if p == nil || p.Mode == lianlu.PlanAllow || e.Type != SegmentTypePrefix+SegmentTrack {
		return nil
	}
	members, ok := splitObject(e.Data)
	if !ok {
		return nil
	}
	name, _ := jsonScalar(memberValue(members, "event"))
	v := func(rule, field, msg string) lianlu.PlanViolation {
		return lianlu.PlanViolation{SourceID: p.SourceID, Event: name, Rule: rule, Field: field, Message: msg, MessageID: e.ID}
	}
	sch, ok := p.schemas[name]
	if !ok {
		if p.AllowUnplanned {
			return nil
		}
		return []lianlu.PlanViolation{v(RuleUnplanned, "event", "event "+strconv.Quote(name)+" is not in the tracking plan")}
	}
	raw := memberValue(members, "properties")
	if raw == nil || isJSONNull(raw) {
		raw = []byte("{}")
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []lianlu.PlanViolation{v("type", "properties", "not valid JSON")}
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []lianlu.PlanViolation{v("schema", "properties", err.Error())}
	}
	var out []lianlu.PlanViolation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) >= MaxViolationsPerMessage {
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := e.ErrorKind.KeywordPath()
		rule := "schema"
		if len(path) > 0 {
			rule = path[len(path)-1]
		}
		field := "properties"
		for _, tok := range e.InstanceLocation {
			field += "." + tok
		}
		if req, ok := e.ErrorKind.(*kind.Required); ok {
			for _, m := range req.Missing {
				if len(out) < MaxViolationsPerMessage {
					out = append(out, v(rule, field+"."+m, "missing required property "+strconv.Quote(m)))
				}
			}
			return
		}
		out = append(out, v(rule, field, e.ErrorKind.LocalizedString(printer)))
	}
	walk(ve)
	return out
}

// violationNote is how a flagged message records its violations in its
// "lianlu" annotations.
type violationNote struct {
	Rule    string `json:"rule"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// AnnotateViolations returns the normalised message data with its
// violations added under "lianlu": {"violations": […]}, so that flagged
// events can be found on the log. data must be a message DecodeSegment
// produced, whose "lianlu" member, if any, comes last.
func AnnotateViolations(data []byte, vs []lianlu.PlanViolation) []byte {
	members, ok := splitObject(data)
	if !ok || len(vs) == 0 {
		return data
	}
	notes := make([]violationNote, len(vs))
	for i, v := range vs {
		notes[i] = violationNote{Rule: v.Rule, Field: v.Field, Message: v.Message}
	}
	nb, _ := json.Marshal(notes) // plain strings always encode
	out := make([]byte, 0, len(data)+len(nb)+32)
	out = append(out, '{')
	var lianluMembers []segMember
	for _, m := range members {
		if m.name == "lianlu" {
			lianluMembers, _ = splitObject(m.value)
			continue
		}
		out = appendMember(out, len(out) > 1, m)
	}
	out = append(out, `,"lianlu":{`...)
	for i, m := range lianluMembers {
		out = appendMember(out, i > 0, m)
	}
	if len(lianluMembers) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"violations":`...)
	out = append(out, nb...)
	return append(out, '}', '}')
}

// ApplyPlan checks the events of a decoded Segment request against plan
// (nil: no plan) and returns the violations to tally. In flag mode a
// violating event stays, annotated (AnnotateViolations); in block mode it
// is removed from res and reported in res.Invalid by its batch index,
// like a message that failed to decode. Each violation's EventIndex
// refers to res.Events after the call (-1 for a blocked message).
func ApplyPlan(plan *Plan, res *SegmentResult) []lianlu.PlanViolation {
	if plan == nil || plan.Mode == lianlu.PlanAllow {
		return nil
	}
	var out []lianlu.PlanViolation
	kept := 0
	blocked := false
	for i := range res.Events {
		vs := plan.Check(res.Events[i])
		if len(vs) > 0 && plan.Mode == lianlu.PlanBlock {
			blocked = true
			for _, v := range vs {
				v.EventIndex = -1
				out = append(out, v)
				res.Invalid = append(res.Invalid, SegmentProblem{Index: res.Indexes[i], MessageID: res.MessageIDs[i], Field: v.Field,
					Message: "blocked by the tracking plan (" + v.Rule + "): " + v.Message})
			}
			continue
		}
		if len(vs) > 0 {
			res.Events[i].Data = AnnotateViolations(res.Events[i].Data, vs)
			for _, v := range vs {
				v.EventIndex = kept
				out = append(out, v)
			}
		}
		res.Events[kept], res.MessageIDs[kept], res.Indexes[kept] = res.Events[i], res.MessageIDs[i], res.Indexes[i]
		kept++
	}
	res.Events, res.MessageIDs, res.Indexes = res.Events[:kept], res.MessageIDs[:kept], res.Indexes[:kept]
	if blocked {
		slices.SortStableFunc(res.Invalid, func(a, b SegmentProblem) int { return a.Index - b.Index })
	}
	return out
}
