package lianlu

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Money is an amount in minor units (fen for CNY). It is written to JSON as
// a decimal string with two places ("199.00") and read from such a string,
// so that no amount ever passes through a float.
type Money int64

// String formats m as a decimal with two places.
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// ParseMoney reads a decimal amount with at most two places ("199",
// "199.9", "199.90"); it rejects exponents, signs other than a leading '-',
// and amounts beyond ±10^15.
func ParseMoney(s string) (Money, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || (hasFrac && (len(frac) == 0 || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("not a decimal amount with at most two places")
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*100 + f
	if neg {
		v = -v
	}
	return Money(v), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalJSON writes m as a decimal string.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

// UnmarshalJSON reads a decimal string ("199.00"). Its errors are
// *json.UnmarshalTypeError, so that decoders can name the field.
func (m *Money) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Money]()}
	}
	v, err := ParseMoney(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: reflect.TypeFor[Money]()}
	}
	*m = v
	return nil
}
