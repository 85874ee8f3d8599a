package lianlu_test

import (
	"encoding/json"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want lianlu.Money
		ok   bool
	}{
		{"199", 19900, true}, {"199.9", 19990, true}, {"199.90", 19990, true}, {"0.05", 5, true},
		{"-3.50", -350, true}, {"0", 0, true},
		{"", 0, false}, {"1.", 0, false}, {".5", 0, false}, {"1.234", 0, false}, {"1e3", 0, false},
		{"+1", 0, false}, {"1,00", 0, false}, {"1234567890123456", 0, false}, {"--1", 0, false},
	} {
		got, err := lianlu.ParseMoney(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMoney(%q) = %v, %v", tc.in, got, err)
		}
	}
	if s := lianlu.Money(-5).String(); s != "-0.05" {
		t.Errorf("String = %s", s)
	}
	var v struct{ P lianlu.Money }
	if err := json.Unmarshal([]byte(`{"P":"12.30"}`), &v); err != nil || v.P != 1230 {
		t.Fatalf("unmarshal: %v %v", v, err)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"P":"12.30"}` {
		t.Fatalf("marshal: %s", b)
	}
	var ute *json.UnmarshalTypeError
	for _, bad := range []string{`{"P":12.3}`, `{"P":"12.345"}`} {
		err := json.Unmarshal([]byte(bad), &v)
		if ok := err != nil && asUTE(err, &ute) && ute.Field == "P"; !ok {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func asUTE(err error, target **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	*target = e
	return ok
}
