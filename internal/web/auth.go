package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/ratelimit"
)

// Cookie names.
const (
	sessionCookie = "lianlu_session"
	csrfCookie    = "lianlu_csrf"
)

// session is the signed-in user of a request.
type session struct {
	user   lianlu.User
	secret string
	// csrf is the token every form of this session carries: derived from
	// the session secret, which only the browser's HttpOnly cookie holds,
	// so another site can neither read nor forge it.
	csrf string
}

type ctxKey int

const (
	sessionKey ctxKey = iota
	langKey
)

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey).(*session)
	return s
}

func languageOf(r *http.Request) string {
	if l, ok := r.Context().Value(langKey).(string); ok {
		return l
	}
	return Languages[0]
}

// translatorOf returns the translator of the request's language.
func (c *Console) translatorOf(r *http.Request) *translator {
	return c.pages.translators[languageOf(r)]
}

// principal is how the signed-in user acts on the services, as a token
// acts in the API: its department and role decide what it may do, and
// audit entries and events name it user:<username>.
func (s *session) principal() lianlu.Principal {
	return lianlu.Principal{UserID: s.user.ID, Name: s.user.Username, Department: s.user.Department, Role: s.user.Role}
}

func csrfFromSecret(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("lianlu console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// isSecure reports whether cookies must be Secure: the request came over
// TLS, or the console's configured base URL is https (TLS ends at a
// proxy).
func (c *Console) isSecure(r *http.Request) bool { return r.TLS != nil || c.secure }

// anonymousCSRF returns the token of a visitor who is not signed in (the
// login and language forms): a random value in an HttpOnly cookie, which
// the form must repeat.
func anonymousCSRF(w http.ResponseWriter, r *http.Request, secure bool) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		return ck.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	// Make the token valid for the rest of this request's rendering too.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return v
}

// expectedCSRF is the token a POST of this request must carry.
func expectedCSRF(r *http.Request) string {
	if s := sessionOf(r); s != nil {
		return s.csrf
	}
	if ck, err := r.Cookie(csrfCookie); err == nil {
		return ck.Value
	}
	return ""
}

// sameOrigin refuses a POST whose Origin names another site (a second
// line of defence behind the token): the origin must be the host asked for
// or the configured base URL's (a proxy may rewrite Host).
func (c *Console) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	b, err := url.Parse(c.cfg.BaseURL)
	return err == nil && b.Host != "" && u.Host == b.Host && u.Scheme == b.Scheme
}

// adapt wraps a route: language, session, sign-in, CSRF, role, and the
// error page.
func (c *Console) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		ctx := context.WithValue(r.Context(), langKey, chooseLanguage(r))
		if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
			_, u, err := c.cfg.Sessions.AuthenticateSession(ctx, ck.Value)
			switch {
			case err == nil:
				s := &session{user: u, secret: ck.Value, csrf: csrfFromSecret(ck.Value)}
				ctx = context.WithValue(ctx, sessionKey, s)
				ctx = lianlu.NewContextWithPrincipal(ctx, s.principal())
			case lianlu.ErrorCode(err) == lianlu.EUNAUTHORIZED:
				// Expired or ended elsewhere: forget the cookie.
				http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.isSecure(r), SameSite: http.SameSiteLaxMode})
			default:
				c.renderError(w, r.WithContext(ctx), err)
				return
			}
		}
		r = r.WithContext(ctx)
		s := sessionOf(r)
		if !rt.public && s == nil {
			if r.Method == http.MethodGet && r.Header.Get(liveHeader) == "" && r.URL.Path != "/live" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.renderError(w, r, lianlu.Errorf(lianlu.EUNAUTHORIZED, "sign in first"))
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.renderError(w, r, lianlu.Errorf(lianlu.EINVALID, "unreadable form"))
				return
			}
			want := expectedCSRF(r)
			got := r.PostForm.Get("csrf")
			if !c.sameOrigin(r) || want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
				c.renderError(w, r, errCSRF)
				return
			}
		}
		if rt.minRole != "" && (s == nil || !s.user.Role.AtLeast(rt.minRole)) {
			c.renderError(w, r, lianlu.Errorf(lianlu.EFORBIDDEN, "this needs the %s role", rt.minRole))
			return
		}
		if err := rt.handler(w, r); err != nil {
			c.renderError(w, r, err)
		}
	})
}

// errCSRF is a form without the session's token: expired, or sent from
// another site.
var errCSRF = &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: "csrf"}

// localPath returns next if it is a path on this site, else "/", so that
// no form can send anyone to another site.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// safeNext is where to go after signing in: a local path, but not the
// login page again.
func safeNext(next string) string {
	if next = localPath(next); strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (c *Console) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return c.render(w, r, http.StatusOK, "login", "", false, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

type loginData struct {
	Next     string
	Username string
	Failed   bool
	// Limited is set when the attempt was refused unchecked: too many
	// from this address, or too many failures for this user name from
	// this address.
	Limited bool
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) error {
	username := strings.TrimSpace(r.PostForm.Get("username"))
	next := safeNext(r.PostForm.Get("next"))
	now, ip, account := c.cfg.Now(), ratelimit.ClientIP(r), strings.ToLower(username)
	// Failures lock the attempts of one address on one account, not the
	// account: its owner elsewhere still signs in.
	attempts := account + "\x00" + ip
	var wait time.Duration
	if !c.loginIPs.Allow(ip, now) {
		wait = c.loginIPs.Wait(ip, now)
	} else if !c.loginFails.Has(attempts, now) {
		wait = c.loginFails.Wait(attempts, now)
	}
	if wait > 0 {
		c.logger.WarnContext(r.Context(), "console sign-in refused: too many attempts", slog.String("username", username), slog.String("remote", r.RemoteAddr))
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		return c.render(w, r, http.StatusTooManyRequests, "login", "", false, loginData{Next: next, Username: username, Limited: true})
	}
	if !c.loginUserFails.Has(account, now) {
		// Many failures on this account from everywhere: slow every
		// attempt down, the owner's too, but refuse none.
		c.logger.WarnContext(r.Context(), "console sign-in delayed: many failures for this user", slog.String("username", username),
			slog.String("remote", r.RemoteAddr), slog.Duration("delay", c.cfg.LoginUserDelay))
		if err := c.cfg.Sleep(r.Context(), c.cfg.LoginUserDelay); err != nil {
			return nil // the browser has gone
		}
	}
	_, u, secret, err := c.cfg.Sessions.Login(r.Context(), username, r.PostForm.Get("password"), c.cfg.SessionTTL)
	if lianlu.ErrorCode(err) == lianlu.EUNAUTHORIZED {
		c.loginFails.Allow(attempts, now)
		c.loginUserFails.Allow(account, now)
		c.logger.WarnContext(r.Context(), "console sign-in failed", slog.String("username", username), slog.String("remote", r.RemoteAddr))
		return c.render(w, r, http.StatusUnauthorized, "login", "", false, loginData{Next: next, Username: username, Failed: true})
	} else if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(c.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: c.isSecure(r), SameSite: http.SameSiteLaxMode})
	c.logger.InfoContext(r.Context(), "console sign-in", slog.String("username", u.Username))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if s := sessionOf(r); s != nil {
		if err := c.cfg.Sessions.Logout(r.Context(), s.secret); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.isSecure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// handleLang remembers the chosen language for a year and goes back.
func (c *Console) handleLang(w http.ResponseWriter, r *http.Request) error {
	lang := r.PostForm.Get("lang")
	ok := false
	for _, l := range Languages {
		ok = ok || l == lang
	}
	if !ok {
		return lianlu.Invalid(lianlu.FieldError{Field: "lang", Message: "one of " + strings.Join(Languages, ", ")})
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, Secure: c.isSecure(r), SameSite: http.SameSiteLaxMode, HttpOnly: true})
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
	return nil
}

// errorData is the error page's content.
type errorData struct {
	Status    int
	Code      string
	Detail    string
	RequestID string
}

// renderError shows an error page in the user's language: 4xx with what
// went wrong, 5xx with only the request id (and the error logged).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = lianlu.Errorf(lianlu.ETOOLARGE, "form too large")
	}
	code := lianlu.ErrorCode(err)
	status := httpapi.StatusOf(code)
	d := errorData{Status: status, Code: code, RequestID: lianlu.RequestIDFromContext(r.Context())}
	if status >= 500 {
		c.logger.ErrorContext(r.Context(), "console request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("request_id", d.RequestID), slog.Any("error", err))
	} else if err != errCSRF {
		d.Detail = lianlu.ErrorMessage(err)
	} else {
		d.Code = "csrf"
	}
	if r.Header.Get(liveHeader) != "" {
		w.WriteHeader(status)
		return
	}
	if rerr := c.render(w, r, status, "error", "", false, d); rerr != nil {
		c.logger.ErrorContext(r.Context(), "render error page", slog.Any("error", rerr))
		http.Error(w, http.StatusText(status), status)
	}
}
