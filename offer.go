package lianlu

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Offer channels.
const (
	// OfferWebhook POSTs the offer to the brand's messaging service, signed
	// as Lianlu's webhooks are.
	OfferWebhook = "webhook"
	// OfferInbox stores the offer for the member: the join page shows it
	// once she has identified with her phone.
	OfferInbox = "inbox"
)

// OfferTriggers are the event types that can start an offer rule's
// evaluation: what members do in stores and online.
var OfferTriggers = []string{"store.visited", "product.tried", "staff.consulted", "member.joined", "member.consented",
	"order.placed", "feedback.submitted", "segment.track", "segment.page", "segment.identify"}

// CouponTemplate is the coupon an offer gives: ValueOff off an order of at
// least MinTotal, valid for ValidDays from when it is sent. Each member
// gets her own code, once per rule.
type CouponTemplate struct {
	ValueOff  Money `json:"value_off"`
	MinTotal  Money `json:"min_total"`
	ValidDays int   `json:"valid_days"`
}

// FrequencyCap bounds how often one rule reaches one member: at most Count
// sends in any Window.
type FrequencyCap struct {
	Count int `json:"count"`
	// Window is a duration such as "168h".
	Window Duration `json:"window"`
}

// QuietHours are local times ("22:00" to "08:00") in which nothing is sent;
// a send that falls in them waits for their end. The time zone is the
// member's home store's, else the rule's.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// OfferRule says when a member gets an offer, what and through which
// channel.
type OfferRule struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Triggers are event types (from OfferTriggers) that evaluate the rule
	// for the event's member.
	Triggers []string `json:"triggers"`
	// Condition is a CEL expression over member, events (her recent
	// events, newest first), event (the trigger) and now.
	Condition string `json:"condition"`
	// Delay evaluates the condition this long after the trigger (such as
	// "48h" to see whether she bought meanwhile); zero evaluates at once.
	Delay   Duration `json:"delay"`
	Channel string   `json:"channel"`
	// WebhookURL receives webhook-channel offers; SecretRef names the
	// webhook subscription ("webhook/12") whose secret signs them.
	WebhookURL string `json:"webhook_url,omitempty"`
	SecretRef  string `json:"secret_ref,omitempty"`
	// AllowContacts lets the webhook channel send members' phone numbers
	// and emails in clear to WebhookURL. Offers are marketing's, which
	// does not see members' contacts (SeesMemberPII), so by default they
	// go out masked. Only an admin turns it on (audited), for the URL the
	// rule has then; a non-admin may keep it or turn it off.
	AllowContacts bool            `json:"allow_contacts"`
	Title         string          `json:"title"`
	Body          string          `json:"body"`
	Coupon        *CouponTemplate `json:"coupon,omitempty"`
	Cap           FrequencyCap    `json:"frequency_cap"`
	QuietHours    *QuietHours     `json:"quiet_hours,omitempty"`
	// Timezone of the quiet hours when the member has no home store
	// (default Asia/Shanghai).
	Timezone string `json:"timezone"`
	// AfterSeq is the log's end when the rule was created: only later
	// events trigger it.
	AfterSeq  int64     `json:"after_seq"`
	Active    bool      `json:"active"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OfferDepartments read offer sends and coupons (admins too); product and
// supply chain have no use for them.
var OfferDepartments = []string{DeptMarketing, DeptSales, DeptService, DeptStores}

// Offer send statuses: scheduled (waiting for its delay or the end of
// quiet hours), sent, suppressed (consent missing or frequency cap reached)
// and dropped (the delayed condition no longer held).
const (
	SendScheduled  = "scheduled"
	SendSent       = "sent"
	SendSuppressed = "suppressed"
	SendDropped    = "dropped"
)

// OfferSend is one decision to send a rule's offer to a member.
type OfferSend struct {
	ID         int64      `json:"id"`
	RuleID     int64      `json:"rule_id"`
	MemberID   int64      `json:"member_id"`
	TriggerSeq int64      `json:"trigger_seq"`
	Channel    string     `json:"channel"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason,omitempty"`
	DueAt      time.Time  `json:"due_at"`
	SentAt     *time.Time `json:"sent_at,omitempty"`
	Coupon     string     `json:"coupon,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Coupon statuses.
const (
	CouponIssued   = "issued"
	CouponRedeemed = "redeemed"
)

// Coupon is one member's code from an offer.
type Coupon struct {
	Code       string     `json:"code"`
	RuleID     int64      `json:"rule_id"`
	MemberID   int64      `json:"member_id"`
	ValueOff   Money      `json:"value_off"`
	MinTotal   Money      `json:"min_total"`
	ValidFrom  time.Time  `json:"valid_from"`
	ValidUntil time.Time  `json:"valid_until"`
	Status     string     `json:"status"`
	OrderID    int64      `json:"order_id,omitempty"`
	RedeemedAt *time.Time `json:"redeemed_at,omitempty"`
}

// OfferService manages offer rules and reads what they sent.
type OfferService interface {
	// SaveRule creates a rule (ID 0) or replaces one, audited. EINVALID
	// names the field (a condition that does not compile, an unknown
	// trigger, a webhook channel without URL or with a URL the outbound
	// policy refuses); ENOTFOUND for an unknown id; EFORBIDDEN when a
	// non-admin grants AllowContacts or changes the URL or channel of a
	// rule that has it.
	SaveRule(ctx context.Context, r OfferRule) (OfferRule, error)
	// FindRule returns a rule or ENOTFOUND.
	FindRule(ctx context.Context, id int64) (OfferRule, error)
	// FindRules lists rules by id.
	FindRules(ctx context.Context, afterID int64, limit int) ([]OfferRule, error)
	// FindSends lists a member's sends (or a rule's, or all), newest first.
	FindSends(ctx context.Context, memberID, ruleID int64, beforeID int64, limit int) ([]OfferSend, error)
	// FindCoupon returns a coupon by code or ENOTFOUND.
	FindCoupon(ctx context.Context, code string) (Coupon, error)
	// InboxFor returns the inbox offers sent to a member, newest first.
	InboxFor(ctx context.Context, memberID int64, limit int) ([]InboxMessage, error)
}

// Duration is a time.Duration written in JSON as a string: a Go duration
// ("36h", "90m") or a number of days ("7d").
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "168h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "36h", "90m" or "7d"; an empty string is zero.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration such as \"36h\" or \"7d\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration or a whole number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 36h or 7d", s)
	}
	return v, nil
}
