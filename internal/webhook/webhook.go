// Package webhook sends Lianlu's events to other systems over HTTP following
// the Standard Webhooks scheme (https://www.standardwebhooks.com): signed
// with HMAC-SHA256, delivered durably with exponential backoff and full
// jitter, dead-lettered after a number of attempts, replayable, and logged
// attempt by attempt.
//
// This package holds the webhook types, the service and storage interfaces
// (internal/sqlstore implements them), signing and verification, the retry
// policy and the delivery Worker.
package webhook

import (
	"context"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// Webhook statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Delivery statuses. A delivery is pending until the receiver answers 2xx
// (delivered) or every attempt failed (dead).
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Limits of a subscription.
const (
	MaxURLLen         = 2048
	MaxEventTypes     = 50
	MaxEventTypeLen   = lianlu.MaxEventTypeLen
	MaxDescriptionLen = 500
)

// DeliveredEventType is the event appended when a direct delivery that
// carries a handoff gets its first 2xx. Its data is DeliveredData.
const DeliveredEventType = "webhook.delivered"

// Webhook is a subscription: events whose type matches EventTypes (and whose
// department is Department, when set) are POSTed to URL. The signing secret
// is never part of it; it is shown once, when created or rotated.
type Webhook struct {
	ID int64 `json:"id"`
	// URL is the absolute http(s) URL deliveries are POSTed to.
	URL string `json:"url"`
	// EventTypes are exact event types or prefixes ending in ".*", such as
	// "order.*".
	EventTypes []string `json:"event_types"`
	// Department, when set, limits deliveries to events of that department
	// and makes the webhook visible to that department's managers.
	Department  string `json:"department,omitempty"`
	Description string `json:"description"`
	Status      string `json:"status"`
	// PreviousSecretExpiresAt is set after a rotation: until then every
	// delivery is signed with the new and the previous secret.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedBy               string     `json:"created_by"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	DisabledAt              *time.Time `json:"disabled_at,omitempty"`
}

// WithSecret is a webhook together with its signing secret: the response to
// creation and rotation, the only times the secret is shown.
type WithSecret struct {
	Webhook
	// Secret is "whsec_" followed by the base64 of 32 random bytes.
	Secret string `json:"secret"`
}

// Create is the input of CreateWebhook.
type Create struct {
	URL         string
	EventTypes  []string
	Department  string
	Description string
}

// Filter selects webhooks. Zero fields do not filter.
type Filter struct {
	Department string
	Status     string
	// AfterID returns webhooks with a greater id (oldest first).
	AfterID int64
	Limit   int
}

// Delivery is one message to one URL and its log.
type Delivery struct {
	ID int64 `json:"id"`
	// WebhookID is the subscription; zero for a direct delivery (a flow's
	// webhook.post step).
	WebhookID  int64  `json:"webhook_id,omitempty"`
	Department string `json:"department,omitempty"`
	URL        string `json:"url"`
	// MsgID is the webhook-id header: the same on every attempt and on
	// replays, so that receivers deduplicate.
	MsgID     string `json:"msg_id"`
	EventSeq  int64  `json:"event_seq,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	Subject   string `json:"subject,omitempty"`
	HandoffID int64  `json:"handoff_id,omitempty"`
	// ReplayOf is the delivery this one replays.
	ReplayOf int64  `json:"replay_of,omitempty"`
	Status   string `json:"status"`
	// Attempts counts the attempts made so far.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	// AttemptLog lists the attempts, first to last.
	AttemptLog []Attempt `json:"attempt_log"`
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	Attempt   int       `json:"attempt"`
	StartedAt time.Time `json:"started_at"`
	// DurationMS is how long the request took, in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// StatusCode is the receiver's HTTP status; zero when no response came.
	StatusCode int `json:"status_code,omitempty"`
	// Error says why the attempt failed (truncated); empty for a 2xx.
	Error string `json:"error,omitempty"`
}

// DeliveryFilter selects deliveries, newest first. Zero fields do not
// filter.
type DeliveryFilter struct {
	WebhookID  int64
	HandoffID  int64
	Department string
	Status     string
	// BeforeID returns deliveries with a smaller id.
	BeforeID int64
	Limit    int
}

// DeliveredData is the data of a webhook.delivered event.
type DeliveredData struct {
	DeliveryID int64     `json:"delivery_id"`
	HandoffID  int64     `json:"handoff_id"`
	EventID    string    `json:"event_id,omitempty"`
	EventSeq   int64     `json:"event_seq,omitempty"`
	MsgID      string    `json:"msg_id"`
	Status     string    `json:"status"`
	StatusCode int       `json:"status_code"`
	URL        string    `json:"url"`
	ReplayOf   int64     `json:"replay_of,omitempty"`
	At         time.Time `json:"delivered_at"`
}

// Service manages subscriptions and reads the delivery log. Every change is
// audited in its own transaction.
type Service interface {
	// CreateWebhook stores a subscription and returns it with its new
	// secret. Returns EINVALID naming the field (url, event_types[i],
	// department, description).
	CreateWebhook(ctx context.Context, c Create) (WithSecret, error)
	// FindWebhookByID returns a webhook, or ENOTFOUND.
	FindWebhookByID(ctx context.Context, id int64) (Webhook, error)
	// FindWebhooks lists webhooks oldest first.
	FindWebhooks(ctx context.Context, f Filter) ([]Webhook, error)
	// DisableWebhook stops a webhook; its pending deliveries become dead.
	// Disabling a disabled webhook changes nothing. Returns ENOTFOUND.
	DisableWebhook(ctx context.Context, id int64) (Webhook, error)
	// RotateWebhookSecret gives a webhook a new secret; the previous one
	// keeps signing alongside it for a grace period. Returns ENOTFOUND, or
	// ECONFLICT for a disabled webhook.
	RotateWebhookSecret(ctx context.Context, id int64) (WithSecret, error)
	// FindDeliveries lists deliveries newest first, with their attempts.
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// FindDeliveryByID returns a delivery with its attempts, or ENOTFOUND.
	FindDeliveryByID(ctx context.Context, id int64) (Delivery, error)
	// ReplayDelivery enqueues a delivered or dead delivery again as a new
	// delivery with the same message id and a fresh attempt count. Returns
	// ENOTFOUND, or ECONFLICT when it is still pending or its webhook is
	// disabled.
	ReplayDelivery(ctx context.Context, id int64) (Delivery, error)
}

// Claim is a due delivery that a worker holds for one attempt.
type Claim struct {
	Delivery Delivery
	// Token proves the claim when the attempt is recorded.
	Token       string
	ContentType string
	Payload     []byte
	// Secrets sign the request: the current secret first, then a previous
	// one during its grace period. None for an unsigned direct delivery.
	Secrets []string
}

// Outcomes of an attempt.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetry     = "retry"
	OutcomeDead      = "dead"
)

// AttemptResult is what a worker reports after one attempt.
type AttemptResult struct {
	DeliveryID int64
	Token      string
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int
	Error      string
	// Outcome is OutcomeDelivered, OutcomeRetry or OutcomeDead.
	Outcome string
	// RetryIn is the delay before the next attempt when Outcome is
	// OutcomeRetry.
	RetryIn time.Duration
}

// Store is the durable queue the Worker works from.
type Store interface {
	// ClaimDeliveries takes up to limit pending deliveries that are due and
	// hides them from other workers for lease (after which an unrecorded
	// attempt, say of a crashed node, is retried). Safe with several nodes.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Claim, error)
	// RecordAttempt logs an attempt and moves the delivery on. Returns
	// ECONFLICT when the claim was lost (its lease ran out and another
	// worker took it).
	RecordAttempt(ctx context.Context, r AttemptResult) error
	// Enqueued returns a channel closed at the next commit in this process
	// that enqueued deliveries.
	Enqueued() <-chan struct{}
	// Appended returns a channel closed at the next commit in this process
	// that appended events (flows enqueue direct deliveries with events).
	Appended() <-chan struct{}
}

// eventTypeRe is a dotted event type, optionally ending in ".*".
var eventTypeRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?$`)

// ValidateURL checks a delivery URL: absolute http or https, with a host,
// without credentials or fragment, at most MaxURLLen bytes. It returns the
// problem or "".
func ValidateURL(s string) string {
	if s == "" {
		return "required"
	}
	if len(s) > MaxURLLen {
		return "longer than " + strconv.Itoa(MaxURLLen) + " bytes"
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute http or https URL"
	}
	if u.User != nil {
		return "must not contain credentials; the signature authenticates Lianlu"
	}
	if u.Fragment != "" || strings.HasSuffix(s, "#") {
		return "must not contain a fragment"
	}
	return ""
}

// Validate checks c and normalises it (trims, drops duplicate event types).
// Field errors name url, event_types (or event_types[i]) and description.
func (c *Create) Validate() []lianlu.FieldError {
	var errs []lianlu.FieldError
	c.URL = strings.TrimSpace(c.URL)
	if msg := ValidateURL(c.URL); msg != "" {
		errs = append(errs, lianlu.FieldError{Field: "url", Message: msg})
	}
	switch {
	case len(c.EventTypes) == 0:
		errs = append(errs, lianlu.FieldError{Field: "event_types", Message: "required: at least one event type such as order.placed or order.*"})
	case len(c.EventTypes) > MaxEventTypes:
		errs = append(errs, lianlu.FieldError{Field: "event_types", Message: "at most " + strconv.Itoa(MaxEventTypes) + " event types"})
	default:
		seen := map[string]bool{}
		var types []string
		for i, t := range c.EventTypes {
			t = strings.TrimSpace(t)
			if len(t) > MaxEventTypeLen || !eventTypeRe.MatchString(t) {
				errs = append(errs, lianlu.FieldError{Field: "event_types[" + strconv.Itoa(i) + "]",
					Message: "must be an event type such as order.placed, or a prefix ending in .* such as order.*"})
				continue
			}
			if !seen[t] {
				seen[t] = true
				types = append(types, t)
			}
		}
		c.EventTypes = types
	}
	c.Description = strings.TrimSpace(c.Description)
	if utf8.RuneCountInString(c.Description) > MaxDescriptionLen {
		errs = append(errs, lianlu.FieldError{Field: "description", Message: "longer than " + strconv.Itoa(MaxDescriptionLen) + " characters"})
	} else if !utf8.ValidString(c.Description) || strings.ContainsRune(c.Description, 0) {
		errs = append(errs, lianlu.FieldError{Field: "description", Message: "not valid UTF-8 text"})
	}
	return errs
}

// Matches reports whether an event type matches any of patterns: an exact
// type, or a prefix pattern "a.b.*" that matches every type starting with
// "a.b.".
func Matches(patterns []string, eventType string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(eventType, prefix) {
				return true
			}
		} else if p == eventType {
			return true
		}
	}
	return false
}
