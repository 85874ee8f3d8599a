package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// statusOf maps error codes to HTTP statuses: the one table from error to
// status.
var statusOf = map[string]int{
	lianlu.EINVALID:      http.StatusBadRequest,
	lianlu.EUNAUTHORIZED: http.StatusUnauthorized,
	lianlu.EFORBIDDEN:    http.StatusForbidden,
	lianlu.ENOTFOUND:     http.StatusNotFound,
	lianlu.ECONFLICT:     http.StatusConflict,
	lianlu.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	lianlu.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	lianlu.EUNAVAILABLE:  http.StatusServiceUnavailable,
	lianlu.EINTERNAL:     http.StatusInternalServerError,
}

// StatusOf is the HTTP status of an error code, 500 for an unknown one;
// the API and the console answer alike.
func StatusOf(code string) int {
	if status, ok := statusOf[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	Code      string              `json:"code"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []lianlu.FieldError `json:"errors,omitempty"`
}

// writeError writes err as a problem document. Only internal errors are
// logged as errors, and their text never reaches the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = lianlu.Errorf(lianlu.ETOOLARGE, "request body larger than %d bytes", mbe.Limit)
	}
	code := lianlu.ErrorCode(err)
	status := StatusOf(code)
	if status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("request_id", lianlu.RequestIDFromContext(r.Context())), slog.Any("error", err))
	}
	p := Problem{
		Type:      "urn:lianlu:problem:" + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    lianlu.ErrorMessage(err),
		Instance:  r.URL.Path,
		Code:      code,
		RequestID: lianlu.RequestIDFromContext(r.Context()),
		Errors:    lianlu.ErrorFields(err),
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lianlu"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return encodeJSON(w, v)
}

// encodeJSON writes v without HTML escaping, so that data comes back as it
// was sent.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// List is the shape of every list response.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// decodeJSON reads a JSON object body strictly into v: JSON content type,
// UTF-8 (refused otherwise, as the event intake does, rather than replaced),
// nested at most collect.MaxJSONDepth levels, unknown fields rejected, one
// value only.
func decodeJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json") {
		return lianlu.Errorf(lianlu.EUNSUPPORTED, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // the body limit (writeError maps it) or a broken connection
	}
	if !utf8.Valid(body) {
		return lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "malformed JSON: not valid UTF-8"})
	}
	if err := collect.CheckJSONDepth(body, collect.MaxJSONDepth, ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &ute):
			msg := "must be " + jsonKind(ute.Type)
			if ute.Type == reflect.TypeFor[lianlu.Money]() {
				msg = `must be a decimal string with at most two places, such as "199.00"`
			}
			return lianlu.Invalid(lianlu.FieldError{Field: ute.Field, Message: msg})
		case errors.Is(err, io.EOF):
			return lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "empty body"})
		default:
			return lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "malformed JSON: " + err.Error()})
		}
	}
	if dec.More() {
		return lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "more than one JSON value"})
	}
	return nil
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// pageParams reads the cursor (the last id of the previous page) and limit
// of a list request.
func pageParams(r *http.Request) (after int64, limit int, err error) {
	if after, err = queryInt64(r, "cursor"); err != nil {
		return 0, 0, err
	}
	limit, err = queryLimit(r)
	return after, limit, err
}

// pageByID is a list page of items ordered by an integer key: when the page
// is full, next_cursor is the last item's key.
func pageByID[T any](items []T, limit int, key func(T) int64) List[T] {
	list := List[T]{Items: items}
	if limit > 0 && len(items) == limit {
		list.NextCursor = strconv.FormatInt(key(items[len(items)-1]), 10)
	}
	return list
}
