package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

//go:embed templates/*.html
var templateFS embed.FS

// common are the templates every page is composed with: the layout and the
// shared partials (navigation, charts, timelines, countdowns).
var common = []string{"templates/layout.html", "templates/partials.html", "templates/charts.html"}

// pageFiles declares, in one place, the template file of each page. Every
// page defines "title" and "content"; a live page also defines "live",
// the region that live updates re-render.
var pageFiles = map[string]string{
	"login":     "templates/login.html",
	"error":     "templates/error.html",
	"overview":  "templates/overview.html",
	"queue":     "templates/queue.html",
	"orders":    "templates/orders.html",
	"order":     "templates/order.html",
	"feedback":  "templates/feedback_list.html",
	"feedback1": "templates/feedback.html",
	"stores":    "templates/stores.html",
	"store":     "templates/store.html",
	"members":   "templates/members.html",
	"offers":    "templates/offers.html",
	"member":    "templates/member.html",
	"events":    "templates/events.html",
	"flows":     "templates/flows.html",
	"flow":      "templates/flow.html",
}

// pageSet is every page parsed once per language.
type pageSet struct {
	byLang      map[string]map[string]*template.Template
	translators map[string]*translator
}

// parsePages parses every page in every language and checks that each
// defines what the layout needs.
func parsePages(c *Console) (*pageSet, error) {
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	ps := &pageSet{byLang: map[string]map[string]*template.Template{}, translators: map[string]*translator{}}
	for _, lang := range Languages {
		tr := &translator{lang: lang, msgs: cats[lang], loc: c.cfg.Location, strict: c.cfg.Strict}
		ps.translators[lang] = tr
		base, err := template.New("base").Funcs(c.funcs(tr)).ParseFS(templateFS, common...)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		ps.byLang[lang] = map[string]*template.Template{}
		for name, file := range pageFiles {
			t, err := template.Must(base.Clone()).ParseFS(templateFS, file)
			if err != nil {
				return nil, fmt.Errorf("console page %s: %w", name, err)
			}
			for _, block := range []string{"title", "content"} {
				if t.Lookup(block) == nil {
					return nil, fmt.Errorf("console page %s (%s) defines no %q", name, file, block)
				}
			}
			ps.byLang[lang][name] = t
		}
	}
	return ps, nil
}

// templateFiles lists the embedded template files (for tests).
func templateFiles() ([]string, error) { return fs.Glob(templateFS, "templates/*.html") }

// countdown is an SLA clock as a page shows it: the script keeps Text
// current from ISO.
type countdown struct {
	ISO     string
	Text    string
	Overdue bool
	Soon    bool
}

// funcs are the template functions, bound to one language.
func (c *Console) funcs(tr *translator) template.FuncMap {
	now := func() time.Time { return c.cfg.Now() }
	return template.FuncMap{
		"t":   tr.T,
		"has": tr.Has,
		// label translates prefix+value when there is a message for it,
		// and shows the value itself otherwise (open-ended codes such as
		// problem types).
		"label": func(prefix, value string) string {
			if value == "" {
				return "—"
			}
			if tr.Has(prefix + value) {
				return tr.T(prefix + value)
			}
			return value
		},
		"int": func(n any) string {
			switch v := n.(type) {
			case int:
				return tr.Int(int64(v))
			case int64:
				return tr.Int(v)
			default:
				return fmt.Sprint(n)
			}
		},
		"money": func(m lianlu.Money) string {
			whole, frac, _ := strings.Cut(m.String(), ".")
			neg := strings.HasPrefix(whole, "-")
			var n int64
			fmt.Sscan(strings.TrimPrefix(whole, "-"), &n)
			s := "¥" + tr.Int(n) + "." + frac
			if neg {
				s = "-" + s
			}
			return s
		},
		"time": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return tr.Time(v, now())
			case *time.Time:
				if v == nil {
					return "—"
				}
				return tr.Time(*v, now())
			}
			return "—"
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"secs": func(s *float64) string {
			if s == nil {
				return "—"
			}
			return tr.Duration(time.Duration(*s * float64(time.Second)))
		},
		"ago": func(t time.Time) string { return tr.T("time.ago", tr.Duration(now().Sub(t))) },
		"countdown": func(due *time.Time) *countdown {
			if due == nil {
				return nil
			}
			left := due.Sub(now())
			cd := &countdown{ISO: due.UTC().Format(time.RFC3339), Overdue: left < 0, Soon: left >= 0 && left < time.Hour}
			if cd.Overdue {
				cd.Text = tr.T("sla.overdue", tr.Duration(-left))
			} else {
				cd.Text = tr.T("sla.left", tr.Duration(left))
			}
			return cd
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
		"json": func(b json.RawMessage) string {
			if len(b) == 0 {
				return ""
			}
			var out bytes.Buffer
			if json.Indent(&out, b, "", "  ") != nil {
				return string(b)
			}
			return out.String()
		},
		"lang": func() string { return tr.lang },
		"stars": func(n int) string {
			n = min(max(n, 0), 5)
			return strings.Repeat("★", n) + strings.Repeat("☆", 5-n)
		},
		"deref": func(f *float64) float64 {
			if f == nil {
				return 0
			}
			return *f
		},
		// subjectKind and subjectID split "order/12" into "order" and 12.
		"subjectKind": func(s string) string { k, _, _ := strings.Cut(s, "/"); return k },
		"subjectID": func(s string) int64 {
			_, id, _ := strings.Cut(s, "/")
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return 0
			}
			return n
		},
		"add": func(a, b int) int { return a + b },
		// rejectNote is what a store said when it rejected a request
		// (the dispatcher records "rejected by CODE: note").
		"rejectNote": func(reason string) string {
			if !strings.HasPrefix(reason, "rejected by ") {
				return ""
			}
			_, note, _ := strings.Cut(reason, ": ")
			return note
		},
	}
}

// pageData is what every page template receives.
type pageData struct {
	Lang       string
	Languages  []string
	Nav        string
	User       *lianlu.User
	CSRF       string
	CanOperate bool
	IsAdmin    bool
	Path       string
	Version    string
	Now        time.Time
	// Live marks a page whose "live" region follows the event log.
	Live bool
	Data any
}

// render writes a page, or only its live region for a live refresh.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, nav string, live bool, data any) error {
	lang := languageOf(r)
	t := c.pages.byLang[lang][page]
	if t == nil {
		return fmt.Errorf("console: no page %q", page)
	}
	pd := pageData{Lang: lang, Languages: Languages, Nav: nav, Path: r.URL.RequestURI(), Version: c.cfg.Version, Now: c.cfg.Now(), Live: live, Data: data}
	if s := sessionOf(r); s != nil {
		pd.User, pd.CSRF = &s.user, s.csrf
		pd.CanOperate = s.user.Role.AtLeast(lianlu.RoleOperator)
		pd.IsAdmin = s.user.Role == lianlu.RoleAdmin
	} else {
		pd.CSRF = anonymousCSRF(w, r, c.isSecure(r))
	}
	name := "layout"
	if live && r.Header.Get(liveHeader) != "" && t.Lookup("live") != nil {
		name = "live"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, pd); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Vary", "Cookie, Accept-Language")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// liveHeader marks the script's requests for a page's live region.
const liveHeader = "X-Lianlu-Live"
