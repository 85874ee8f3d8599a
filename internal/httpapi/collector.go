package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// Appender stores events with group commit (*sqlstore.Appender).
type Appender interface {
	Append(ctx context.Context, events []lianlu.Event) ([]lianlu.AppendResult, error)
	// AppendChecked also tallies tracking plan violations in the same
	// transaction.
	AppendChecked(ctx context.Context, events []lianlu.Event, violations []lianlu.PlanViolation) ([]lianlu.AppendResult, error)
}

// PlanStore keeps tracking plans and serves them compiled from a cache
// (*sqlstore.TrackingPlanService).
type PlanStore interface {
	lianlu.TrackingPlanService
	// CompiledPlan returns a source's compiled plan, nil when it has none,
	// without a database round trip while cached.
	CompiledPlan(ctx context.Context, sourceID int64) (*collect.Plan, error)
}

// segmentCalls are the Segment HTTP API calls the collector serves.
var segmentCalls = []string{"track", "identify", "page", "screen", "group", "alias", "batch"}

// collectorResponse is the body of a collector call. Segment's SDKs read
// only the status; success mirrors Segment's own answer.
type collectorResponse struct {
	Success    bool                     `json:"success"`
	Accepted   int                      `json:"accepted"`
	Duplicates int                      `json:"duplicates"`
	Invalid    []collect.SegmentProblem `json:"invalid,omitempty"`
}

// setCORS lets browser SDKs (analytics.js) call the collector from any
// site: the write key, not the origin, authenticates.
func setCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
	h.Set("Access-Control-Max-Age", "86400")
}

func (s *Server) handleCollectorPreflight(w http.ResponseWriter, r *http.Request) error {
	setCORS(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// newMessageID assigns a messageId to messages that came without one.
func newMessageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "lianlu-" + hex.EncodeToString(b)
}

// handleSegment serves POST /v1/{call}: authenticate the write key (Basic
// user name, or writeKey in the body), decode, and store the valid messages
// with group commit. 200 only after they are durable.
func (s *Server) handleSegment(call string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		setCORS(w)
		if s.cfg.Sources == nil || s.cfg.Appender == nil {
			return lianlu.Errorf(lianlu.EUNAVAILABLE, "the collector is not configured")
		}
		lim := s.cfg.SegmentLimits
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
		case "", "identity":
		case "gzip":
			if body, err = collect.GunzipLimited(bytes.NewReader(body), int64(lim.MaxRequestBytes)); err != nil {
				return err
			}
		default:
			return lianlu.Errorf(lianlu.EUNSUPPORTED, "Content-Encoding %q is not supported; use gzip or none", enc)
		}
		key, _, hasBasic := r.BasicAuth()
		var src lianlu.Source
		if hasBasic && key != "" {
			if src, err = s.cfg.Sources.AuthenticateWriteKey(r.Context(), key); err != nil {
				return err
			}
		}
		res, err := collect.DecodeSegment(collect.SegmentRequest{Call: call, Body: body, ReceivedAt: time.Now().UTC(), SourceID: strconv.FormatInt(src.ID, 10)}, lim, newMessageID)
		if err != nil {
			if src.ID == 0 && res.WriteKey == "" {
				// Without any key the caller learns nothing about its body.
				return lianlu.Errorf(lianlu.EUNAUTHORIZED, "missing write key: send it as the Basic-auth user name or as writeKey")
			}
			return err
		}
		if src.ID == 0 {
			if res.WriteKey == "" {
				return lianlu.Errorf(lianlu.EUNAUTHORIZED, "missing write key: send it as the Basic-auth user name or as writeKey")
			}
			if src, err = s.cfg.Sources.AuthenticateWriteKey(r.Context(), res.WriteKey); err != nil {
				return err
			}
		}
		for i := range res.Events {
			res.Events[i].Source = "segment:" + strconv.FormatInt(src.ID, 10)
			res.Events[i].Department = src.Department
		}
		var violations []lianlu.PlanViolation
		if s.cfg.Plans != nil {
			plan, err := s.cfg.Plans.CompiledPlan(r.Context(), src.ID)
			if err != nil {
				return err
			}
			violations = collect.ApplyPlan(plan, &res)
		}
		out := collectorResponse{Success: true, Invalid: res.Invalid}
		if len(res.Events) == 0 {
			if len(violations) > 0 {
				// Only blocked messages: tally them, store nothing.
				if _, err := s.cfg.Appender.AppendChecked(r.Context(), nil, violations); err != nil {
					return err
				}
			}
			if len(res.Invalid) > 0 && call != collect.SegmentBatch {
				fields := make([]lianlu.FieldError, len(res.Invalid))
				for i, p := range res.Invalid {
					fields[i] = lianlu.FieldError{Field: p.Field, Message: p.Message}
				}
				return &lianlu.Error{Code: lianlu.EINVALID, Message: "the message is blocked by the source's tracking plan", Fields: fields}
			}
			if len(res.Invalid) > 0 {
				return &lianlu.Error{Code: lianlu.EINVALID, Message: "no valid message in the batch", Fields: problemFields(res.Invalid)}
			}
			return writeJSON(w, http.StatusOK, out)
		}
		stored, err := s.cfg.Appender.AppendChecked(r.Context(), res.Events, violations)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return lianlu.Errorf(lianlu.EUNAVAILABLE, "request cancelled")
			}
			return err
		}
		for _, st := range stored {
			if st.Duplicate {
				out.Duplicates++
			} else {
				out.Accepted++
			}
		}
		return writeJSON(w, http.StatusOK, out)
	}
}

func problemFields(ps []collect.SegmentProblem) []lianlu.FieldError {
	out := make([]lianlu.FieldError, 0, len(ps))
	for _, p := range ps {
		out = append(out, lianlu.FieldError{Field: "batch[" + strconv.Itoa(p.Index) + "]." + p.Field, Message: p.Message})
	}
	return out
}
