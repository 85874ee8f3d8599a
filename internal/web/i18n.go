package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

//go:embed i18n/*.json
var catalogueFS embed.FS

// Languages the console speaks, the first being the default for browsers
// that ask for neither.
var Languages = []string{"zh-CN", "en"}

// langCookie keeps the user's choice of language.
const langCookie = "lianlu_lang"

var langMatcher = language.NewMatcher([]language.Tag{language.SimplifiedChinese, language.English})

// catalogue is one language's messages by key.
type catalogue map[string]string

// loadCatalogues reads every language's catalogue.
func loadCatalogues() (map[string]catalogue, error) {
	out := map[string]catalogue{}
	for _, lang := range Languages {
		b, err := catalogueFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", lang, err)
		}
		var c catalogue
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

// missingMark wraps a key without a message, so that it stands out on a
// page and tests can find it.
func missingMark(key string) string { return "⟦" + key + "⟧" }

// translator renders one language's messages and formats numbers, times
// and durations the way that language writes them.
type translator struct {
	lang   string
	msgs   catalogue
	loc    *time.Location
	strict bool
}

// T returns the message of key, formatted with args (fmt verbs).
func (tr *translator) T(key string, args ...any) string {
	m, ok := tr.msgs[key]
	if !ok {
		if tr.strict {
			panic(fmt.Sprintf("web: no %s message for %q", tr.lang, key))
		}
		return missingMark(key)
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Has reports whether key has a message.
func (tr *translator) Has(key string) bool {
	_, ok := tr.msgs[key]
	return ok
}

// Duration writes d as its two largest units ("1h 23m", "1小时23分").
func (tr *translator) Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	units := []struct {
		key  string
		size time.Duration
	}{{"unit.d", 24 * time.Hour}, {"unit.h", time.Hour}, {"unit.m", time.Minute}, {"unit.s", time.Second}}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 || (len(parts) == 0 && u.key == "unit.s") {
			parts = append(parts, tr.T(u.key, int64(n)))
			d -= n * u.size
		}
		if len(parts) == 2 {
			break
		}
	}
	return strings.Join(parts, tr.T("unit.sep"))
}

// Int writes n with thousands separators.
func (tr *translator) Int(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Time writes t in the console's zone: the time of day for today, the
// date and time otherwise.
func (tr *translator) Time(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "—"
	}
	lt, ln := t.In(tr.loc), now.In(tr.loc)
	if lt.Year() == ln.Year() && lt.YearDay() == ln.YearDay() {
		return lt.Format("15:04:05")
	}
	if lt.Year() == ln.Year() {
		return lt.Format("01-02 15:04")
	}
	return lt.Format("2006-01-02 15:04")
}

// chooseLanguage picks the user's language: the cookie they chose, then
// the browser's Accept-Language, then the default.
func chooseLanguage(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil {
		for _, l := range Languages {
			if ck.Value == l {
				return l
			}
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, i, conf := langMatcher.Match(tags...)
			if conf != language.No {
				return Languages[i]
			}
		}
	}
	return Languages[0]
}
