package flow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/lianlu/lianlu"
)

// Limits on expressions.
const (
	// CostLimit bounds the work of one evaluation, in cel-go cost units
	// (roughly one per operation, more for operations on long strings and
	// lists). A condition that exceeds it, such as nested comprehensions
	// over a large list in the event's data, fails with an error instead of
	// holding the runner: ordinary conditions cost well under 100.
	CostLimit = 10_000
	// MaxExpressionLength bounds the source of an expression, in code
	// points.
	MaxExpressionLength = 2048
)

// celEnv is built once and never changed; cel.Env is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
	)
})

// Program is a compiled CEL expression over the variable event (see the
// package documentation for its keys). It is safe for concurrent use.
type Program struct {
	src string
	out *cel.Type
	prg cel.Program
}

// Compile compiles a condition: a CEL expression over event whose type is
// bool. Fields of event are dynamically typed, so a condition compares them
// (event.data.vip == true, not event.data.vip). Returns EINVALID when expr
// does not compile or is not boolean.
func Compile(expr string) (*Program, error) {
	p, err := compile(expr)
	if err != nil {
		return nil, err
	}
	if p.out.Kind() != types.BoolKind {
		return nil, lianlu.Errorf(lianlu.EINVALID, "must be a boolean expression, not %s", p.out)
	}
	return p, nil
}

// CompileValue compiles an expression of any type, such as a computed
// parameter (without its leading "="). Returns EINVALID when expr does not
// compile.
func CompileValue(expr string) (*Program, error) {
	return compile(expr)
}

func compile(expr string) (*Program, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	return compileIn(env, expr)
}

// CompileBoolIn compiles a boolean condition in another environment (other
// variables than event), with the same limits on size and cost as flow
// conditions; evaluate it with EvalBoolVars. Returns EINVALID when expr
// does not compile or is not boolean. Build env with
// cel.ParserExpressionSizeLimit(MaxExpressionLength).
func CompileBoolIn(env *cel.Env, expr string) (*Program, error) {
	p, err := compileIn(env, expr)
	if err != nil {
		return nil, err
	}
	if p.out.Kind() != types.BoolKind {
		return nil, lianlu.Errorf(lianlu.EINVALID, "must be a boolean expression, not %s", p.out)
	}
	return p, nil
}

// EvalBoolVars evaluates a program compiled with CompileBoolIn on the
// variables of its environment. Errors are as for Eval.
func (p *Program) EvalBoolVars(vars map[string]any) (bool, error) { return p.evalBool(vars) }

func compileIn(env *cel.Env, expr string) (*Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, lianlu.Errorf(lianlu.EINVALID, "empty expression")
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		msgs := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, lianlu.Errorf(lianlu.EINVALID, "invalid expression: %s", strings.Join(msgs, "; "))
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit))
	if err != nil {
		return nil, lianlu.Errorf(lianlu.EINVALID, "invalid expression: %v", err)
	}
	return &Program{src: expr, out: ast.OutputType(), prg: prg}, nil
}

// String returns the source of the expression.
func (p *Program) String() string { return p.src }

// Eval evaluates the program on e and returns its boolean result. It returns
// an error when evaluation fails, such as on a key missing from the event's
// data (event.data.nope) or on exceeding CostLimit, and when the result is not
// a bool; the runner treats such an error as a failed condition.
func (p *Program) Eval(e lianlu.Event) (bool, error) {
	vars, err := activation(e)
	if err != nil {
		return false, err
	}
	return p.evalBool(vars)
}

// EvalValue evaluates the program on e and returns its result as a Go value:
// nil, bool, int64, uint64, float64, string, []byte, time.Time,
// time.Duration, []any or map[string]any. Errors are as for Eval.
func (p *Program) EvalValue(e lianlu.Event) (any, error) {
	vars, err := activation(e)
	if err != nil {
		return nil, err
	}
	return p.evalValue(vars)
}

func (p *Program) eval(vars map[string]any) (ref.Val, error) {
	v, _, err := p.prg.Eval(vars)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", p.src, err)
	}
	return v, nil
}

func (p *Program) evalBool(vars map[string]any) (bool, error) {
	v, err := p.eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: result is %s, not bool", p.src, v.Type().TypeName())
	}
	return bool(b), nil
}

func (p *Program) evalValue(vars map[string]any) (any, error) {
	v, err := p.eval(vars)
	if err != nil {
		return nil, err
	}
	out, err := nativeValue(v)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %w", p.src, err)
	}
	return out, nil
}

// activation is the input of every program: the event as a map.
func activation(e lianlu.Event) (map[string]any, error) {
	ev, err := EventValue(e)
	if err != nil {
		return nil, err
	}
	return map[string]any{"event": ev}, nil
}

// EventValue is an event as expressions see it: a map of its envelope
// fields with data decoded (see the package documentation).
func EventValue(e lianlu.Event) (map[string]any, error) {
	data, err := decodeData(e.Data)
	if err != nil {
		return nil, fmt.Errorf("decode data of event %s: %w", e.ID, err)
	}
	return map[string]any{
		"seq":            e.Seq,
		"id":             e.ID,
		"source":         e.Source,
		"type":           e.Type,
		"subject":        e.Subject,
		"time":           e.Time,
		"recorded_at":    e.RecordedAt,
		"department":     e.Department,
		"actor":          e.Actor,
		"correlation_id": e.CorrelationID,
		"causation_id":   e.CausationID,
		"dataschema":     e.DataSchema,
		"data":           data,
	}, nil
}

// DecodeJSON decodes JSON as expressions see it (see decodeData); empty
// input is an empty map.
func DecodeJSON(raw json.RawMessage) (any, error) { return decodeData(raw) }

// decodeData decodes an event's JSON payload, with numbers as int64 when
// integral and float64 otherwise, so that CEL comparisons with int literals
// behave the same for 2 and 2.0. No payload is an empty map.
func decodeData(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return convertNumbers(v), nil
}

func convertNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			// Out of float64 range: keep the text rather than lose it.
			return string(v)
		}
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int64(f)
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = convertNumbers(e)
		}
	}
	return v
}

// nativeValue converts a CEL result to plain Go values.
func nativeValue(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case types.String:
		return string(v), nil
	case types.Bytes:
		return []byte(v), nil
	case types.Timestamp:
		return v.Time, nil
	case types.Duration:
		return v.Duration, nil
	case traits.Lister:
		n, ok := v.Size().(types.Int)
		if !ok {
			return nil, fmt.Errorf("list of unknown size")
		}
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			e, err := nativeValue(v.Get(i))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case traits.Mapper:
		out := map[string]any{}
		it := v.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			e, err := nativeValue(v.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	case *types.Err:
		return nil, v
	}
	return nil, fmt.Errorf("unsupported result type %s", v.Type().TypeName())
}
