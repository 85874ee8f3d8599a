package flow

import (
	"fmt"
	"maps"
	"slices"

	"github.com/lianlu/lianlu"
)

// CompiledFlow is a validated Definition with its expressions compiled, ready
// for the runner. It is safe for concurrent use.
type CompiledFlow struct {
	Definition
	// Condition is the trigger's condition; nil when there is none.
	Condition *Program
	// StepWhen holds one entry per step: its When, nil when there is none.
	StepWhen []*Program
	// StepParams holds one entry per step: its computed ("=") parameters.
	StepParams []map[string]*Program
	// StepAction holds one entry per step: the spec of its action.
	StepAction []ActionSpec
	// StepSLA holds one entry per step: its parsed SLA, zero for none.
	StepSLA []SLA
}

// CompileAll validates defs against env (see Validate) and compiles them.
// Returns EINVALID listing every problem when any definition is invalid.
func CompileAll(defs []Definition, env ValidationEnv) ([]CompiledFlow, error) {
	reg := env.registry()
	env.Registry = reg
	if err := Validate(defs, env); err != nil {
		return nil, err
	}
	out := make([]CompiledFlow, 0, len(defs))
	for _, d := range defs {
		f, err := compileFlow(d, reg)
		if err != nil {
			// Validate compiled the same expressions: unreachable unless
			// the CEL environment itself is broken.
			return nil, fmt.Errorf("compile flow %s: %w", d.Name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func compileFlow(d Definition, reg *Registry) (CompiledFlow, error) {
	// Own the steps, so that later changes to the caller's definitions do
	// not reach a running flow.
	d.Steps = slices.Clone(d.Steps)
	f := CompiledFlow{
		Definition: d,
		StepWhen:   make([]*Program, len(d.Steps)),
		StepParams: make([]map[string]*Program, len(d.Steps)),
		StepAction: make([]ActionSpec, len(d.Steps)),
		StepSLA:    make([]SLA, len(d.Steps)),
	}
	var err error
	if d.Trigger.Condition != "" {
		if f.Condition, err = Compile(d.Trigger.Condition); err != nil {
			return f, err
		}
	}
	for i, s := range d.Steps {
		s.Params = maps.Clone(s.Params)
		s.Completes = slices.Clone(s.Completes)
		s.Accepts = slices.Clone(s.Accepts)
		f.Steps[i] = s
		if s.When != "" {
			if f.StepWhen[i], err = Compile(s.When); err != nil {
				return f, err
			}
		}
		f.StepParams[i] = map[string]*Program{}
		for k, v := range s.Params {
			if expr, ok := paramExpr(v); ok {
				if f.StepParams[i][k], err = CompileValue(expr); err != nil {
					return f, err
				}
			}
		}
		f.StepAction[i], _ = reg.Lookup(s.Action)
		dur, days, slaErr := ParseSLA(s.SLA)
		if slaErr != nil {
			return f, slaErr
		}
		f.StepSLA[i] = SLA{Duration: dur, BusinessDays: days}
	}
	return f, nil
}

// Matches reports whether e starts the flow: its type is the trigger's event
// type and the trigger's condition, if any, holds. An error means the
// condition failed to evaluate; the runner treats the flow as not matching.
func (f *CompiledFlow) Matches(e lianlu.Event) (bool, error) {
	if e.Type != f.Trigger.Event {
		return false, nil
	}
	if f.Condition == nil {
		return true, nil
	}
	return f.Condition.Eval(e)
}

// StepApplies reports whether step i runs for e: it has no When or its When
// holds. An error means When failed to evaluate or i is out of range.
func (f *CompiledFlow) StepApplies(i int, e lianlu.Event) (bool, error) {
	if i < 0 || i >= len(f.Steps) {
		return false, fmt.Errorf("flow %s: no step %d", f.Name, i)
	}
	if f.StepWhen[i] == nil {
		return true, nil
	}
	return f.StepWhen[i].Eval(e)
}

// ResolveParams returns the parameters of step i for e: literal values,
// computed ("=") values evaluated on e, and the action's defaults for the
// parameters the step leaves out. Values are normalised by kind: int as
// int64, duration as time.Duration, string_list as []string. An error means a
// computed value failed to evaluate or does not fit its parameter (such as a
// priority expression yielding "hgih"), or i is out of range.
func (f *CompiledFlow) ResolveParams(i int, e lianlu.Event) (map[string]any, error) {
	if i < 0 || i >= len(f.Steps) {
		return nil, fmt.Errorf("flow %s: no step %d", f.Name, i)
	}
	step, spec := f.Steps[i], f.StepAction[i]
	out := make(map[string]any, len(spec.Params))
	var vars map[string]any
	for k, raw := range step.Params {
		val := literalParam(raw)
		if p := f.StepParams[i][k]; p != nil {
			if vars == nil {
				var err error
				if vars, err = activation(e); err != nil {
					return nil, err
				}
			}
			var err error
			if val, err = p.evalValue(vars); err != nil {
				return nil, fmt.Errorf("flow %s step %s: parameter %s: %w", f.Name, step.Name, k, err)
			}
		}
		norm, err := normalizeParam(spec.Params[k], val)
		if err != nil {
			return nil, fmt.Errorf("flow %s step %s: parameter %s: %w", f.Name, step.Name, k, err)
		}
		out[k] = norm
	}
	for k, ps := range spec.Params {
		if _, ok := out[k]; !ok && ps.Default != nil {
			if l, ok := ps.Default.([]string); ok {
				out[k] = slices.Clone(l)
			} else {
				out[k] = ps.Default
			}
		}
	}
	return out, nil
}
