package lianlu_test

import (
	"testing"

	"github.com/lianlu/lianlu"
)

func TestParseConsent(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"yes", true},
		{"true", true},
		{"1", true},
		{"on", true},
		{"no", false},
		{"false", false},
		{"0", false},
		{"off", false},
		{"", false},
		{" ", false},
		{"YES ", false},
		{"yess", false},
		{"maybe", false},
		{"<script>", false},
	} {
		if got := lianlu.ParseConsent(tc.v); got != tc.want {
			t.Errorf("ParseConsent(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
