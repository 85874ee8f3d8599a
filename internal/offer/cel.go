package offer

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/cel-go/cel"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
)

// conditionEnv is the environment of offer conditions, built once:
//
//	member  map: id, tags, tier, traits, home_store, joined_store,
//	        joined_staff, consents (purpose → bool), created_at
//	events  list of her recent events (newest first), each shaped as a
//	        flow condition's event (type, time, data, …)
//	event   the triggering event
//	now     the time of evaluation
//
// Conditions run with the flow conditions' size and cost limits.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("member", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("events", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		cel.ParserExpressionSizeLimit(flow.MaxExpressionLength),
	)
})

// Compile compiles an offer condition. EINVALID when it does not compile
// or is not boolean.
func Compile(expr string) (*flow.Program, error) {
	env, err := conditionEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	return flow.CompileBoolIn(env, expr)
}

// memberValue is the member as conditions see her.
func memberValue(m lianlu.Member) (map[string]any, error) {
	traits, err := flow.DecodeJSON(m.Traits)
	if err != nil {
		return nil, err
	}
	consents := map[string]any{}
	for _, c := range m.Consents {
		consents[c.Purpose] = c.Granted
	}
	tags := make([]any, 0, len(m.Tags))
	for _, t := range m.Tags {
		tags = append(tags, t)
	}
	return map[string]any{"id": m.ID, "tags": tags, "tier": m.Tier, "traits": traits, "home_store": m.HomeStore, "joined_store": m.JoinedStore,
		"joined_staff": m.JoinedStaff, "consents": consents, "created_at": m.CreatedAt}, nil
}

// Vars builds a condition's input.
func Vars(m lianlu.Member, recent []lianlu.Event, trigger lianlu.Event, now time.Time) (map[string]any, error) {
	mv, err := memberValue(m)
	if err != nil {
		return nil, err
	}
	evs := make([]any, 0, len(recent))
	for _, e := range recent {
		v, err := flow.EventValue(e)
		if err != nil {
			return nil, err
		}
		evs = append(evs, v)
	}
	tv, err := flow.EventValue(trigger)
	if err != nil {
		return nil, err
	}
	return map[string]any{"member": mv, "events": evs, "event": tv, "now": now}, nil
}
