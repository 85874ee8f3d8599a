package flow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"go.yaml.in/yaml/v3"
)

// Parse reads flow definitions from YAML: one document per flow, several
// documents separated by "---". Decoding is strict: unknown keys, duplicate
// keys and values of the wrong type are errors. Empty documents are skipped.
// Parse checks only the shape of the text; call Validate for its meaning.
//
// Returns EINVALID with the field "yaml" and the line in the message when the
// text is not valid YAML, does not fit the Definition shape, or holds no
// definition at all.
func Parse(data []byte) ([]Definition, error) {
	// First pass: the documents as nodes, which finds syntax errors and
	// empty documents; strict decoding (KnownFields) needs a Decoder, so
	// the second pass decodes the same stream again into Definitions.
	var nodes []yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, yamlError(err)
		}
		nodes = append(nodes, n)
	}

	for i := range nodes {
		if root := documentRoot(&nodes[i]); !isEmptyDocument(&nodes[i]) && root.Kind != yaml.MappingNode {
			return nil, lianlu.Invalid(lianlu.FieldError{
				Field:   "yaml",
				Message: fmt.Sprintf("line %d: a flow definition must be a mapping", root.Line),
			})
		}
	}

	var defs []Definition
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for i := range nodes {
		var d Definition
		if err := dec.Decode(&d); err != nil {
			return nil, yamlError(err)
		}
		if !isEmptyDocument(&nodes[i]) {
			defs = append(defs, d)
		}
	}
	if len(defs) == 0 {
		return nil, lianlu.Invalid(lianlu.FieldError{Field: "yaml", Message: "no flow definition found"})
	}
	return defs, nil
}

func documentRoot(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0]
	}
	return n
}

func isEmptyDocument(n *yaml.Node) bool {
	if n.Kind == 0 || (n.Kind == yaml.DocumentNode && len(n.Content) == 0) {
		return true
	}
	root := documentRoot(n)
	return root.Kind == yaml.ScalarNode && root.Tag == "!!null"
}

var (
	unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
	goTypeRE       = regexp.MustCompile(`\bflow\.([A-Z]\w*)`)
)

// yamlError turns a yaml.v3 error into EINVALID on the field "yaml", keeping
// the line numbers yaml.v3 puts in its messages and dropping Go type names.
func yamlError(err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	fields := make([]lianlu.FieldError, 0, len(msgs))
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		m = unknownFieldRE.ReplaceAllString(m, `unknown field "$1"`)
		m = goTypeRE.ReplaceAllString(m, "$1")
		fields = append(fields, lianlu.FieldError{Field: "yaml", Message: m})
	}
	return lianlu.Invalid(fields...)
}

// ParseSLA parses a Step.SLA. It returns a positive duration of business
// time for a Go duration ("2h", "90m", "1h30m"), a positive number of
// business days (at most MaxBusinessDays) for "<n>bd" ("3bd"), and zero for
// "" (no SLA). It checks the syntax only: the runner turns the SLA into a due
// time with the receiving department's calendar. Errors are EINVALID.
func ParseSLA(s string) (d time.Duration, businessDays int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	if digits, ok := strings.CutSuffix(s, "bd"); ok {
		n, err := strconv.Atoi(digits)
		if err != nil || digits == "" || digits[0] < '0' || digits[0] > '9' {
			return 0, 0, slaError(s)
		}
		if n < 1 || n > MaxBusinessDays {
			return 0, 0, lianlu.Errorf(lianlu.EINVALID, "invalid SLA %q: business days must be between 1 and %d", s, MaxBusinessDays)
		}
		return 0, n, nil
	}
	d, err = time.ParseDuration(s)
	if err != nil {
		return 0, 0, slaError(s)
	}
	if d <= 0 {
		return 0, 0, lianlu.Errorf(lianlu.EINVALID, "invalid SLA %q: must be positive", s)
	}
	return d, 0, nil
}

func slaError(s string) error {
	return lianlu.Errorf(lianlu.EINVALID, `invalid SLA %q: want a duration such as "2h" or "90m", or business days such as "3bd"`, s)
}
