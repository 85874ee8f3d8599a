// Package flow declares Lianlu's flows: what happens, across departments, when
// a business fact lands on the event log.
//
// A flow is data, declared in YAML (see Parse and defaults.yaml): a trigger (an
// event type plus an optional CEL condition over the event) and steps, each a
// handoff from one department to another carried out by a registered action,
// with an SLA and the event types that complete it. This package parses,
// validates and compiles flows and declares the actions they may use; the
// runner that executes them on the event log and the actions themselves live
// elsewhere.
//
// # Field paths
//
// Validation problems are reported in one lianlu.Invalid error whose field
// paths name the flow and the step:
//
//	flows[<flow>].name
//	flows[<flow>].trigger.event
//	flows[<flow>].trigger.condition
//	flows[<flow>].steps
//	flows[<flow>].steps[<i>].<name|from|to|when|action|sla|completes|accepts>
//	flows[<flow>].steps[<i>].params.<param>
//	flows[<flow>].steps[<i>].completes[<j>]   (also accepts[<j>])
//
// <flow> is the flow's name when it is a valid name, otherwise its 0-based
// position in the list given to Validate; <i> and <j> are 0-based positions.
// The same format is used when a single flow is validated. Problems of the
// YAML text itself (syntax, unknown keys, wrong types) are reported by Parse
// under the field "yaml" with the line in the message.
//
// # Expressions
//
// Conditions (trigger.condition, steps[].when) and computed parameters are CEL
// expressions over one variable, event, a map with the keys seq, id, source,
// type, subject, department, actor, correlation_id, causation_id, dataschema,
// time, recorded_at (timestamps) and data (the JSON payload: objects are maps,
// arrays are lists, integral numbers are ints and other numbers doubles, so
// event.data.rating <= 2 works for "rating": 2 and "rating": 1.5 alike). See
// Compile.
package flow

import (
	"regexp"
	"time"
)

// Limits on a definition.
const (
	// MaxSteps is the most steps one flow may have.
	MaxSteps = 20
	// MaxDescriptionLen bounds Definition.Description, in bytes.
	MaxDescriptionLen = 2000
	// MaxBusinessDays bounds an SLA given in business days.
	MaxBusinessDays = 1000
)

var (
	flowNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
	stepNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)
)

// Definition is one flow as declared in YAML: when an event of the trigger's
// type (and matching its condition) is recorded, each step whose When holds
// becomes a handoff to the step's receiving department.
type Definition struct {
	// Name identifies the flow: ^[a-z][a-z0-9_.-]{0,63}$, unique.
	Name        string  `yaml:"name" json:"name"`
	Description string  `yaml:"description,omitempty" json:"description,omitempty"`
	Trigger     Trigger `yaml:"trigger" json:"trigger"`
	// Steps run in order; 1 to MaxSteps.
	Steps []Step `yaml:"steps" json:"steps"`
}

// Trigger selects the events that start a flow.
type Trigger struct {
	// Event is the exact event type, such as "order.placed". Required.
	Event string `yaml:"event" json:"event"`
	// Condition is an optional boolean CEL expression over event; the flow
	// starts only when it is true.
	Condition string `yaml:"condition,omitempty" json:"condition,omitempty"`
}

// Step is one handoff of a flow: From asks To to do something, by way of
// Action, within SLA, and the step is done when an event of one of the
// Completes types arrives.
type Step struct {
	// Name is unique within the flow: ^[a-z][a-z0-9_]{0,63}$.
	Name string `yaml:"name" json:"name"`
	// From is the handing-over department; empty means the department of
	// the triggering event, decided at run time.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
	// To is the receiving department. Required.
	To string `yaml:"to" json:"to"`
	// When is an optional boolean CEL expression over event: the step runs
	// only when it is true.
	When string `yaml:"when,omitempty" json:"when,omitempty"`
	// Action is a registered action name, such as "fulfillment.create".
	Action string `yaml:"action" json:"action"`
	// Params are the action's parameters, checked against its ActionSpec.
	// Values are literal, except that a top-level string value starting
	// with "=" is a CEL expression over event evaluated at run time (such
	// as "= event.data.rating <= 2 ? 'high' : 'normal'"). A literal string
	// that starts with "=" is written with the "=" doubled ("==x" is "=x").
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	// SLA is "" (none), a duration such as "2h" or "90m", or business days
	// such as "3bd" (see ParseSLA). Both are business time, measured by the
	// runner in the receiving department's calendar: "24h" is 24 working
	// hours of To.
	SLA string `yaml:"sla,omitempty" json:"sla,omitempty"`
	// Completes lists the event types that complete the step (done_at);
	// at least one when SLA is set.
	Completes []string `yaml:"completes,omitempty" json:"completes,omitempty"`
	// Accepts lists the event types that mark the receiver as having
	// started work (accepted_at). Optional.
	Accepts []string `yaml:"accepts,omitempty" json:"accepts,omitempty"`
}

// SLA is a parsed Step.SLA: either a duration of business time or a number of
// business days, both measured in the receiving department's calendar. The
// zero SLA means none.
type SLA struct {
	Duration     time.Duration `json:"duration,omitempty"`
	BusinessDays int           `json:"business_days,omitempty"`
}

// IsZero reports whether s is no SLA.
func (s SLA) IsZero() bool { return s.Duration == 0 && s.BusinessDays == 0 }
