package collect_test

import (
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

func TestCheckJSONDepth(t *testing.T) {
	deep := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	tests := []struct {
		name, json, prefix string
		max                int
		field              string // "" when accepted
	}{
		{"flat", `{"a":1,"b":[1,2]}`, "", 2, ""},
		{"at the limit", deep(`[`, `]`, 3), "", 3, ""},
		{"array too deep", deep(`[`, `]`, 4), "", 3, "[0][0][0]"},
		{"object path", `{"x":1,"a":{"b":[0,{"c":{}}]}}`, "", 4, "a.b[1].c"},
		{"prefix", `{"a":{"b":{}}}`, "data", 2, "data.a.b"},
		{"batch index", `[{"id":"1"},{"id":"2","data":{"k":{}}}]`, "", 3, "[1].data.k"},
		{"brackets in strings", `{"s":"[[[[{{{{","t":"\"[[[["}`, "", 1, ""},
		{"escaped key", `{"a\"b":{"c":{}}}`, "", 2, `a"b.c`},
		{"values that are strings", `{"a":"k","b":{"c":{}}}`, "", 2, "b.c"},
		{"whole body", `{}`, "", 0, "body"},
		{"long key", `{"` + strings.Repeat("k", 100) + `":{}}`, "", 1, strings.Repeat("k", 64) + "…"},
		{"malformed is left to the decoder", `{"a":[}`, "", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := collect.CheckJSONDepth([]byte(tt.json), tt.max, tt.prefix)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			fs := lianlu.ErrorFields(err)
			if lianlu.ErrorCode(err) != lianlu.EINVALID || len(fs) != 1 || fs[0].Field != tt.field {
				t.Fatalf("got %v %+v, want field %q", err, fs, tt.field)
			}
		})
	}
	// 10,000 levels are refused at once, without recursion.
	if err := collect.CheckJSONDepth([]byte(deep(`{"a":`, `}`, 10000)), collect.MaxJSONDepth, ""); lianlu.ErrorCode(err) != lianlu.EINVALID {
		t.Fatalf("10,000 levels: %v", err)
	}
}
