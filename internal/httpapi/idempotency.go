package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// IdempotencyStore keeps the outcome of requests made with an
// Idempotency-Key header.
type IdempotencyStore interface {
	ReserveIdempotencyKey(ctx context.Context, principal, key, method, path, requestHash string) (sqlstore.IdempotencyRecord, bool, error)
	CompleteIdempotencyKey(ctx context.Context, principal, key string, status int, contentType string, body []byte) error
	ReleaseIdempotencyKey(ctx context.Context, principal, key string) error
}

// recorder tees a response so that it can be stored for replay.
type recorder struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	// discard keeps a success response out of buf: it shows a secret.
	discard bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.discard || !success(r.status) {
		r.buf.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func success(status int) bool { return status >= 200 && status < 300 }

// errShownOnce answers the repeat of a request whose response showed a
// secret, which is not kept.
func errShownOnce(status int) error {
	return lianlu.Errorf(lianlu.ECONFLICT, "a request with this Idempotency-Key was already carried out (%d %s); "+
		"its response held a secret, which is shown once and not kept, so it cannot be replayed: "+
		"look the object up with GET, and rotate its secret if it was lost", status, http.StatusText(status))
}

// serveIdempotent runs a POST at most once per (token, Idempotency-Key):
// a repeat with the same body replays the stored response; a repeat with a
// different body is 400; a repeat while the first is running is 409. A
// request that fails with a 5xx releases its key so that it may be retried.
//
// The success response of a route that ShowsSecret is not stored, only
// its status (with the request's fingerprint): secrets are shown once and
// kept nowhere in clear. A repeat of such a request answers errShownOnce.
func (s *Server) serveIdempotent(w http.ResponseWriter, r *http.Request, p lianlu.Principal, rt Route) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || !printableASCII(key) {
		writeError(w, r, s.logger, lianlu.Invalid(lianlu.FieldError{Field: "Idempotency-Key", Message: "1–255 printable ASCII characters"}))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	io.WriteString(sum, r.Method+" "+r.URL.RequestURI()+"\n"+r.Header.Get("Content-Type")+"\n")
	sum.Write(body)
	hash := hex.EncodeToString(sum.Sum(nil))
	principal := "token:" + strconv.FormatInt(p.TokenID, 10)

	rec, reserved, err := s.cfg.Store.ReserveIdempotencyKey(r.Context(), principal, key, r.Method, r.URL.Path, hash)
	if err != nil {
		writeError(w, r, s.logger, err)
		return
	}
	if !reserved {
		switch {
		case rec.RequestHash != hash:
			writeError(w, r, s.logger, lianlu.Errorf(lianlu.EINVALID, "Idempotency-Key was already used with a different request"))
		case !rec.Done:
			writeError(w, r, s.logger, lianlu.Errorf(lianlu.ECONFLICT, "a request with this Idempotency-Key is still in progress"))
		case rt.ShowsSecret && success(rec.Status):
			// Also for a record stored whole before secrets were left out:
			// it is never shown again, and expires with the others.
			writeError(w, r, s.logger, errShownOnce(rec.Status))
		default:
			w.Header().Set("Content-Type", rec.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			w.Write(rec.Body)
		}
		return
	}
	rw := &recorder{ResponseWriter: w, discard: rt.ShowsSecret}
	if err := rt.handler(rw, r); err != nil {
		writeError(rw, r, s.logger, err)
	}
	// Store the outcome even if the client has gone away.
	ctx := context.WithoutCancel(r.Context())
	switch {
	case rw.status >= 500 || rw.status == 0:
		err = s.cfg.Store.ReleaseIdempotencyKey(ctx, principal, key)
	case rt.ShowsSecret && success(rw.status):
		err = s.cfg.Store.CompleteIdempotencyKey(ctx, principal, key, rw.status, "", nil)
	default:
		err = s.cfg.Store.CompleteIdempotencyKey(ctx, principal, key, rw.status, rw.Header().Get("Content-Type"), rw.buf.Bytes())
	}
	if err != nil {
		s.logger.ErrorContext(ctx, "store idempotency key", slog.Any("error", err))
	}
}

func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
