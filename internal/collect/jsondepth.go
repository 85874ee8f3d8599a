package collect

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// MaxJSONDepth is how deeply the JSON of any body Lianlu reads may nest:
// each object or array is one level, the outermost counting as one. Real
// payloads stay under ten; encoding/json alone accepts 10,000, which
// ordinary readers of /api/v1/events (browsers, jq, other languages'
// parsers) do not survive.
const MaxJSONDepth = 32

// maxPathKeyLen bounds one object key in the field named by a depth error.
const maxPathKeyLen = 64

// CheckJSONDepth returns EINVALID, naming the field where data nests
// deeper than max levels, or nil. The field is a path below prefix in the
// API's notation ("data.a.b[3]", "[2].data.x", "batch[0].properties"; a
// prefix such as "data" names what data is, "" a whole body), and the
// message says at which byte. It scans once, without recursion, before
// any decoder runs; it does not check that data is well-formed, which the
// decoder that follows does. Every decoder of request bodies calls it:
// the CloudEvents and Segment intakes, `lianlu import` through them, and
// the REST API's JSON bodies.
func CheckJSONDepth(data []byte, max int, prefix string) error {
	type frame struct {
		object  bool
		wantKey bool
		key     string
		index   int
	}
	var stack []frame
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				stack[n-1].key = pathKey(data[i:min(j+1, len(data))])
				stack[n-1].wantKey = false
			}
			i = j
		case '{', '[':
			if len(stack) >= max {
				var b strings.Builder
				b.WriteString(prefix)
				for _, f := range stack {
					switch {
					case !f.object:
						b.WriteString("[" + strconv.Itoa(f.index) + "]")
					case b.Len() == 0:
						b.WriteString(f.key)
					default:
						b.WriteString("." + f.key)
					}
				}
				field := b.String()
				if field == "" {
					field = "body"
				}
				return lianlu.Invalid(lianlu.FieldError{Field: field,
					Message: fmt.Sprintf("JSON nested deeper than %d levels (at byte %d)", max, i)})
			}
			stack = append(stack, frame{object: c == '{', wantKey: c == '{'})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].wantKey = true
				} else {
					stack[n-1].index++
				}
			}
		}
	}
	return nil
}

// pathKey returns the object key of a JSON string token for a field path,
// shortened when long.
func pathKey(tok []byte) string {
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		s = strings.Trim(string(tok), `"`)
	}
	if len(s) > maxPathKeyLen {
		cut := maxPathKeyLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
