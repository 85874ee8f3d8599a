package flow

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Parameter kinds of a ParamSpec.
const (
	KindString     = "string"
	KindInt        = "int"
	KindBool       = "bool"
	KindDuration   = "duration"
	KindStringList = "string_list"
	KindAny        = "any"
)

var kinds = []string{KindString, KindInt, KindBool, KindDuration, KindStringList, KindAny}

// ActionSpec declares an action a flow step may name: what it is called and
// the parameters it takes. The implementation is registered with the runner
// under the same name.
type ActionSpec struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Params      map[string]ParamSpec `json:"params"`
}

// ParamSpec declares one parameter of an action.
type ParamSpec struct {
	Required bool `json:"required"`
	// Kind is one of KindString, KindInt, KindBool, KindDuration,
	// KindStringList and KindAny. Values are normalised by kind (see
	// CompiledFlow.ResolveParams).
	Kind string `json:"kind"`
	// Enum, when set, lists the allowed values of a string (or of each
	// element of a string_list).
	Enum        []string `json:"enum,omitempty"`
	Description string   `json:"description,omitempty"`
	// Default is the value ResolveParams supplies when the step leaves the
	// parameter out; nil for none.
	Default any `json:"default,omitempty"`
	// Check, when set, further validates a value that passed the kind and
	// enum checks, such as a URL's scheme.
	Check func(value any) error `json:"-"`
}

// Registry is the set of actions flows may use. It is immutable, and so safe
// for concurrent use.
type Registry struct {
	specs map[string]ActionSpec
	names []string
}

// NewRegistry returns a registry of specs. It panics on a spec without a
// name, a duplicate name or a parameter of unknown kind: specs are program
// text, not input.
func NewRegistry(specs ...ActionSpec) *Registry {
	r := &Registry{specs: make(map[string]ActionSpec, len(specs))}
	for _, s := range specs {
		if s.Name == "" {
			panic("flow: action spec without a name")
		}
		if _, dup := r.specs[s.Name]; dup {
			panic(fmt.Sprintf("flow: duplicate action spec %q", s.Name))
		}
		for p, ps := range s.Params {
			if !slices.Contains(kinds, ps.Kind) {
				panic(fmt.Sprintf("flow: action %q parameter %q has unknown kind %q", s.Name, p, ps.Kind))
			}
		}
		r.specs[s.Name] = s
		r.names = append(r.names, s.Name)
	}
	sort.Strings(r.names)
	return r
}

// Lookup returns the spec of the action called name.
func (r *Registry) Lookup(name string) (ActionSpec, bool) {
	s, ok := r.specs[name]
	return s, ok
}

// Names returns the registered action names, sorted.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// Built-in action names.
const (
	ActionFulfillmentCreate = "fulfillment.create"
	ActionWorkOrderCreate   = "workorder.create"
	ActionBacklogAdd        = "backlog.add"
	ActionWebhookPost       = "webhook.post"
	ActionNotify            = "notify"
)

// BuiltinActionSpecs declares the actions every installation has.
func BuiltinActionSpecs() []ActionSpec {
	return []ActionSpec{
		{
			Name:        ActionFulfillmentCreate,
			Description: "Create a fulfillment for the order in the event and reserve its stock.",
			Params: map[string]ParamSpec{
				"location_rule": {Kind: KindString, Enum: []string{"nearest", "store"},
					Description: "How the shipping location is chosen; by default store orders ship from their store and online orders from the nearest warehouse with stock."},
			},
		},
		{
			Name:        ActionWorkOrderCreate,
			Description: "Open a service work order about the event's subject in the receiving department's queue.",
			Params: map[string]ParamSpec{
				"kind": {Required: true, Kind: KindString,
					Enum:        []string{"order_followup", "after_sales", "on_site", "feedback_followup"},
					Description: "Kind of work order."},
				"priority": {Kind: KindString, Enum: []string{"normal", "high", "urgent"}, Default: "normal",
					Description: "Priority of the work order."},
				"title": {Kind: KindString, Description: "Title shown in the queue."},
			},
		},
		{
			Name:        ActionBacklogAdd,
			Description: "Add the feedback in the event to the product backlog, adding weight to an existing item with the same dedupe key.",
			Params: map[string]ParamSpec{
				"dedupe_by": {Kind: KindStringList, Default: []string{"problem_type", "sku"},
					Description: "Feedback fields whose values identify one backlog item."},
				"weight": {Kind: KindInt, Default: int64(1), Description: "Weight added to the item."},
			},
		},
		{
			Name:        ActionWebhookPost,
			Description: "POST the event to a URL, signed with Standard Webhooks; delivered at the receiver's first 2xx.",
			Params: map[string]ParamSpec{
				"url":        {Required: true, Kind: KindString, Check: checkHTTPURL, Description: "Absolute http(s) URL."},
				"secret_ref": {Kind: KindString, Description: "Name of the stored signing secret."},
			},
		},
		{
			Name:        ActionNotify,
			Description: "Notify the receiving department.",
			Params: map[string]ParamSpec{
				"message": {Required: true, Kind: KindString, Description: "Text of the notification."},
				"channel": {Kind: KindString, Enum: []string{"inbox", "webhook"}, Default: "inbox",
					Description: "Where the notification goes."},
			},
		},
	}
}

func checkHTTPURL(v any) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	return nil
}

// normalizeParam checks v against ps and returns it in its normal form: int
// kinds as int64, durations as time.Duration, string lists as []string.
func normalizeParam(ps ParamSpec, v any) (any, error) {
	var out any
	switch ps.Kind {
	case KindString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string")
		}
		if err := checkEnum(ps.Enum, s); err != nil {
			return nil, err
		}
		out = s
	case KindInt:
		n, ok := toInt64(v)
		if !ok {
			return nil, fmt.Errorf("must be an integer")
		}
		out = n
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("must be true or false")
		}
		out = b
	case KindDuration:
		switch d := v.(type) {
		case time.Duration:
			out = d
		case string:
			pd, err := time.ParseDuration(d)
			if err != nil {
				return nil, fmt.Errorf(`must be a duration such as "30m" or "2h"`)
			}
			out = pd
		default:
			return nil, fmt.Errorf(`must be a duration such as "30m" or "2h"`)
		}
	case KindStringList:
		var list []string
		switch l := v.(type) {
		case []string:
			list = slices.Clone(l)
		case []any:
			list = make([]string, 0, len(l))
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("must be a list of strings")
				}
				list = append(list, s)
			}
		default:
			return nil, fmt.Errorf("must be a list of strings")
		}
		for _, s := range list {
			if err := checkEnum(ps.Enum, s); err != nil {
				return nil, err
			}
		}
		out = list
	case KindAny:
		out = v
	default:
		return nil, fmt.Errorf("unknown parameter kind %q", ps.Kind)
	}
	if ps.Check != nil {
		if err := ps.Check(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checkEnum(enum []string, s string) error {
	if len(enum) == 0 || slices.Contains(enum, s) {
		return nil
	}
	return fmt.Errorf("%q is not one of %s", s, strings.Join(enum, ", "))
}

// toInt64 accepts Go integers and integral floats (JSON numbers decode to
// float64).
func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return int64(n), n <= math.MaxInt64
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= math.MaxInt64
	case float32:
		return toInt64(float64(n))
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}
