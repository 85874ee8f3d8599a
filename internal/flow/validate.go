package flow

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/lianlu/lianlu"
)

// ValidationEnv is what flows are validated against.
type ValidationEnv struct {
	// Departments lists the known departments; from and to must be among
	// them, so an empty list rejects every step.
	Departments []string
	// Registry holds the actions steps may use; nil means the built-in
	// actions (BuiltinActionSpecs).
	Registry *Registry
}

func (env ValidationEnv) registry() *Registry {
	if env.Registry == nil {
		return NewRegistry(BuiltinActionSpecs()...)
	}
	return env.Registry
}

// Validate checks defs against env: names, unique flow names, trigger event
// types, every CEL expression (conditions must be boolean), steps, unique
// step names, departments, actions and their parameters, SLAs and the
// completing and accepting event types. It returns nil or one EINVALID error
// listing every problem, with field paths as described in the package
// documentation, such as
//
//	flows[order_placed].steps[0].action: unknown action "fulfilment.create"
func Validate(defs []Definition, env ValidationEnv) error {
	v := validator{env: env, reg: env.registry()}
	seen := map[string]bool{}
	for i, d := range defs {
		path := flowPath(i, d)
		if d.Name != "" && flowNameRE.MatchString(d.Name) {
			if seen[d.Name] {
				v.add(path+".name", "duplicate flow name %q", d.Name)
			}
			seen[d.Name] = true
		}
		v.flow(path, d)
	}
	if len(v.errs) > 0 {
		return lianlu.Invalid(v.errs...)
	}
	return nil
}

func flowPath(i int, d Definition) string {
	if flowNameRE.MatchString(d.Name) {
		return "flows[" + d.Name + "]"
	}
	return fmt.Sprintf("flows[%d]", i)
}

type validator struct {
	env  ValidationEnv
	reg  *Registry
	errs []lianlu.FieldError
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, lianlu.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) flow(path string, d Definition) {
	switch {
	case d.Name == "":
		v.add(path+".name", "required")
	case !flowNameRE.MatchString(d.Name):
		v.add(path+".name", "must match %s", flowNameRE)
	}
	if len(d.Description) > MaxDescriptionLen {
		v.add(path+".description", "at most %d bytes", MaxDescriptionLen)
	}
	v.eventType(path+".trigger.event", d.Trigger.Event)
	if d.Trigger.Condition != "" {
		v.condition(path+".trigger.condition", d.Trigger.Condition)
	}
	switch {
	case len(d.Steps) == 0:
		v.add(path+".steps", "at least one step is required")
	case len(d.Steps) > MaxSteps:
		v.add(path+".steps", "at most %d steps", MaxSteps)
	}
	names := map[string]bool{}
	for i, s := range d.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", path, i)
		switch {
		case s.Name == "":
			v.add(sp+".name", "required")
		case !stepNameRE.MatchString(s.Name):
			v.add(sp+".name", "must match %s", stepNameRE)
		case names[s.Name]:
			v.add(sp+".name", "duplicate step name %q", s.Name)
		}
		names[s.Name] = true
		v.step(sp, s)
	}
}

func (v *validator) eventType(field, t string) {
	switch {
	case t == "":
		v.add(field, "required")
	case len(t) > lianlu.MaxEventTypeLen || !eventTypeRE.MatchString(t):
		v.add(field, "invalid event type %q: want a dotted lowercase name such as \"order.placed\"", t)
	}
}

func (v *validator) condition(field, expr string) {
	if _, err := Compile(expr); err != nil {
		v.add(field, "%s", lianlu.ErrorMessage(err))
	}
}

func (v *validator) department(field, d string, required bool) {
	switch {
	case d == "" && required:
		v.add(field, "required")
	case d != "" && !slices.Contains(v.env.Departments, d):
		v.add(field, "unknown department %q", d)
	}
}

func (v *validator) step(sp string, s Step) {
	v.department(sp+".from", s.From, false)
	v.department(sp+".to", s.To, true)
	if s.When != "" {
		v.condition(sp+".when", s.When)
	}
	v.action(sp, s)
	if _, _, err := ParseSLA(s.SLA); err != nil {
		v.add(sp+".sla", "%s", lianlu.ErrorMessage(err))
	}
	if s.SLA != "" && len(s.Completes) == 0 {
		v.add(sp+".completes", "at least one completing event type is required when sla is set")
	}
	v.eventTypes(sp+".completes", s.Completes)
	v.eventTypes(sp+".accepts", s.Accepts)
}

func (v *validator) eventTypes(field string, list []string) {
	seen := map[string]bool{}
	for j, t := range list {
		f := fmt.Sprintf("%s[%d]", field, j)
		v.eventType(f, t)
		if t != "" && seen[t] {
			v.add(f, "duplicate event type %q", t)
		}
		seen[t] = true
	}
}

func (v *validator) action(sp string, s Step) {
	if s.Action == "" {
		v.add(sp+".action", "required")
		return
	}
	spec, ok := v.reg.Lookup(s.Action)
	if !ok {
		v.add(sp+".action", "unknown action %q", s.Action)
		return
	}
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := sp + ".params." + k
		ps, ok := spec.Params[k]
		if !ok {
			v.add(field, "unknown parameter of action %s", spec.Name)
			continue
		}
		if expr, ok := paramExpr(s.Params[k]); ok {
			p, err := CompileValue(expr)
			if err != nil {
				v.add(field, "%s", lianlu.ErrorMessage(err))
			} else if !kindAccepts(ps.Kind, p.out.Kind()) {
				v.add(field, "expression is of type %s, the parameter is of kind %s", p.out, ps.Kind)
			}
			continue
		}
		if _, err := normalizeParam(ps, literalParam(s.Params[k])); err != nil {
			v.add(field, "%s", err)
		}
	}
	required := make([]string, 0, len(spec.Params))
	for k, ps := range spec.Params {
		if _, ok := s.Params[k]; ps.Required && !ok {
			required = append(required, k)
		}
	}
	sort.Strings(required)
	for _, k := range required {
		v.add(sp+".params."+k, "required by action %s", spec.Name)
	}
}

// paramExpr returns the CEL expression of a computed parameter: a string
// value starting with a single "=".
func paramExpr(v any) (string, bool) {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "=") || strings.HasPrefix(s, "==") {
		return "", false
	}
	return strings.TrimSpace(s[1:]), true
}

// literalParam undoes the escape of a literal string starting with "=".
func literalParam(v any) any {
	if s, ok := v.(string); ok && strings.HasPrefix(s, "==") {
		return s[1:]
	}
	return v
}

// kindAccepts reports whether an expression of static type t can yield a
// value of the parameter kind; dynamic types are checked at run time.
func kindAccepts(kind string, t types.Kind) bool {
	if kind == KindAny || t == types.DynKind || t == types.AnyKind {
		return true
	}
	switch kind {
	case KindString:
		return t == types.StringKind
	case KindInt:
		return t == types.IntKind || t == types.UintKind || t == types.DoubleKind
	case KindBool:
		return t == types.BoolKind
	case KindDuration:
		return t == types.StringKind || t == types.DurationKind
	case KindStringList:
		return t == types.ListKind
	}
	return false
}
