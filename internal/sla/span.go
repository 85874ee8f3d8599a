package sla

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// MarshalJSON encodes the span as ["start", "end"].
func (s Span) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{s.Start, s.End})
}

// UnmarshalJSON decodes a span from a two-element array of strings. The times
// themselves are checked by Calendar.Validate, which can name the field.
func (s *Span) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var pair []string
	if err := json.Unmarshal(data, &pair); err != nil {
		return fmt.Errorf("span: want an array [\"HH:MM\", \"HH:MM\"]: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("span: want 2 times [start, end], got %d", len(pair))
	}
	s.Start, s.End = pair[0], pair[1]
	return nil
}

// MarshalYAML encodes the span as a flow sequence: ["09:00", "18:00"]. The
// times are quoted so that no YAML reader takes them for numbers.
func (s Span) MarshalYAML() (any, error) {
	return &yaml.Node{
		Kind:  yaml.SequenceNode,
		Style: yaml.FlowStyle,
		Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s.Start},
			{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s.End},
		},
	}, nil
}

// UnmarshalYAML decodes a span from a two-element sequence of scalars, quoted
// or not.
func (s *Span) UnmarshalYAML(value *yaml.Node) error {
	if value.Kind != yaml.SequenceNode || len(value.Content) != 2 {
		return fmt.Errorf("line %d: span: want a sequence [start, end] of 2 times", value.Line)
	}
	for _, n := range value.Content {
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: span: times must be scalars such as \"09:00\"", n.Line)
		}
	}
	s.Start, s.End = value.Content[0].Value, value.Content[1].Value
	return nil
}
