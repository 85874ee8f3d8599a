// Package offer turns what members do into tailored offers: rules with a
// CEL condition over the member and her recent events, a coupon template
// (one code per member), a channel (webhook to the brand's messaging
// service, or the inbox the join page shows), a frequency cap, quiet hours
// and the member's marketing consent. The Engine evaluates rules from the
// event log as a subscription (each trigger decided exactly once) and sends
// what comes due; redemption is checked when an order is placed
// (internal/sqlstore).
package offer

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/webhook"
)

// Service implements lianlu.OfferService: rules are validated (their
// condition compiled) before they are stored.
type Service struct {
	// Outbound checks a webhook rule's URL when it is saved (nil: public
	// addresses only); the webhook worker checks again when it sends.
	Outbound *netguard.Policy

	db *sqlstore.DB
	// onChange is called after a rule is saved (the engine reloads).
	onChange func()
}

var _ lianlu.OfferService = (*Service)(nil)

// NewService returns the offer service of db; engine (optional) reloads
// its rules when one is saved.
func NewService(db *sqlstore.DB, engine *Engine) *Service {
	s := &Service{db: db}
	if engine != nil {
		s.onChange = engine.invalidate
	}
	return s
}

var (
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	clockRe = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
	// secretRefRe is a webhook named by id, "webhook/12" or "12".
	secretRefRe = regexp.MustCompile(`^(webhook/)?[1-9][0-9]*$`)
)

// Rule limits.
const (
	maxTitle   = 200
	maxBody    = 2000
	maxDelay   = 90 * 24 * time.Hour
	maxWindow  = 366 * 24 * time.Hour
	maxCapSend = 1000
)

// Validate normalises and checks a rule, naming each bad field.
func Validate(r *lianlu.OfferRule) []lianlu.FieldError {
	var errs []lianlu.FieldError
	add := func(f, m string) { errs = append(errs, lianlu.FieldError{Field: f, Message: m}) }
	r.Name, r.Title, r.Body = strings.TrimSpace(r.Name), strings.TrimSpace(r.Title), strings.TrimSpace(r.Body)
	if !nameRe.MatchString(r.Name) {
		add("name", "1–64 letters, digits or ._- starting with a letter or digit")
	}
	if len(r.Triggers) == 0 {
		add("triggers", "at least one of "+strings.Join(lianlu.OfferTriggers, ", "))
	}
	for i, t := range r.Triggers {
		if !slices.Contains(lianlu.OfferTriggers, t) {
			add("triggers["+strconv.Itoa(i)+"]", "one of "+strings.Join(lianlu.OfferTriggers, ", "))
		}
	}
	if _, err := Compile(r.Condition); err != nil {
		add("condition", lianlu.ErrorMessage(err))
	}
	if d := time.Duration(r.Delay); d < 0 || d > maxDelay {
		add("delay", "between 0 and 90 days")
	}
	switch r.Channel {
	case lianlu.OfferInbox:
		if r.WebhookURL != "" || r.SecretRef != "" {
			add("webhook_url", "only for the webhook channel")
		}
		if r.AllowContacts {
			add("allow_contacts", "only for the webhook channel: the inbox sends nothing out")
		}
	case lianlu.OfferWebhook:
		if msg := webhook.ValidateURL(r.WebhookURL); msg != "" {
			add("webhook_url", msg)
		}
		if r.SecretRef != "" && !secretRefRe.MatchString(r.SecretRef) {
			add("secret_ref", "a webhook subscription whose secret signs the offers, such as webhook/12")
		}
	default:
		add("channel", "webhook or inbox")
	}
	if r.Title == "" || utf8.RuneCountInString(r.Title) > maxTitle {
		add("title", "required, at most 200 characters")
	}
	if utf8.RuneCountInString(r.Body) > maxBody {
		add("body", "at most 2000 characters")
	}
	if r.Description = strings.TrimSpace(r.Description); utf8.RuneCountInString(r.Description) > 500 {
		add("description", "at most 500 characters")
	}
	if c := r.Coupon; c != nil {
		if c.ValueOff <= 0 {
			add("coupon.value_off", "a positive amount such as \"50.00\"")
		}
		if c.MinTotal < 0 {
			add("coupon.min_total", "must not be negative")
		}
		if c.ValidDays < 1 || c.ValidDays > 366 {
			add("coupon.valid_days", "between 1 and 366")
		}
	}
	if r.Cap.Count < 0 || r.Cap.Count > maxCapSend {
		add("frequency_cap.count", "between 0 (no cap) and 1000")
	}
	if w := time.Duration(r.Cap.Window); w < 0 || w > maxWindow || (r.Cap.Count > 0 && w == 0) {
		add("frequency_cap.window", "a duration up to 366 days, such as \"7d\", when count is set")
	}
	if q := r.QuietHours; q != nil {
		if !clockRe.MatchString(q.Start) {
			add("quiet_hours.start", "a local time such as 22:00")
		}
		if !clockRe.MatchString(q.End) || q.End == q.Start {
			add("quiet_hours.end", "a local time such as 08:00, not the start")
		}
	}
	if r.Timezone == "" {
		r.Timezone = "Asia/Shanghai"
	}
	if _, err := time.LoadLocation(r.Timezone); err != nil || r.Timezone == "Local" {
		add("timezone", "an IANA time zone such as Asia/Shanghai")
	}
	return errs
}

// SaveRule validates and stores a rule; see lianlu.OfferService.
func (s *Service) SaveRule(ctx context.Context, r lianlu.OfferRule) (lianlu.OfferRule, error) {
	errs := Validate(&r)
	if r.Channel == lianlu.OfferWebhook && webhook.ValidateURL(r.WebhookURL) == "" {
		if err := s.Outbound.CheckURL(r.WebhookURL); err != nil {
			errs = append(errs, lianlu.FieldError{Field: "webhook_url", Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return r, lianlu.Invalid(errs...)
	}
	out, err := s.db.SaveOfferRule(ctx, r)
	if err == nil && s.onChange != nil {
		s.onChange()
	}
	return out, err
}

// FindRule returns a rule.
func (s *Service) FindRule(ctx context.Context, id int64) (lianlu.OfferRule, error) {
	return s.db.FindOfferRule(ctx, id)
}

// FindRules lists rules by id.
func (s *Service) FindRules(ctx context.Context, afterID int64, limit int) ([]lianlu.OfferRule, error) {
	return s.db.FindOfferRules(ctx, afterID, limit)
}

// FindSends lists sends newest first.
func (s *Service) FindSends(ctx context.Context, memberID, ruleID, beforeID int64, limit int) ([]lianlu.OfferSend, error) {
	return s.db.FindOfferSends(ctx, memberID, ruleID, beforeID, limit)
}

// FindCoupon returns a coupon by code.
func (s *Service) FindCoupon(ctx context.Context, code string) (lianlu.Coupon, error) {
	return s.db.FindCoupon(ctx, code)
}

// InboxFor returns a member's inbox offers.
func (s *Service) InboxFor(ctx context.Context, memberID int64, limit int) ([]lianlu.InboxMessage, error) {
	return s.db.InboxFor(ctx, memberID, limit)
}
