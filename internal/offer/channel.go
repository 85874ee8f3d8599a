package offer

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// Message is one offer to one member, handed to a channel in the
// transaction that records it as sent.
type Message struct {
	// SendID identifies the send: receivers deduplicate by it.
	SendID int64
	Rule   lianlu.OfferRule
	Member lianlu.Member
	Coupon *lianlu.Coupon
	At     time.Time
}

// Channel carries offers to members. Send runs in the engine's
// transaction, so what it writes commits with the send; effects outside
// the database must go through a durable queue (as Webhook's do).
type Channel interface {
	Send(ctx context.Context, tx *sqlstore.Tx, m Message) error
}

// Inbox keeps the offer for the member: the send itself is the inbox
// entry, which the join page shows once she identifies with her phone.
type Inbox struct{}

// Send records nothing more than the send.
func (Inbox) Send(context.Context, *sqlstore.Tx, Message) error { return nil }

// Webhook POSTs the offer to the rule's URL (the brand's messaging
// service) through the durable webhook queue, with the member's contacts
// as SendingDepartment may see them (masked unless the rule has
// AllowContacts): signed with the Standard
// Webhooks scheme by the secret of the subscription the rule's secret_ref
// names, retried with backoff, dead-lettered and replayable like every
// webhook. The webhook-id is "offer_send_<id>", the same on every retry.
type Webhook struct{}

// WebhookPayload is the JSON body of a webhook offer.
type WebhookPayload struct {
	Type   string         `json:"type"`
	SendID int64          `json:"send_id"`
	Offer  webhookOffer   `json:"offer"`
	Member webhookMember  `json:"member"`
	Coupon *webhookCoupon `json:"coupon,omitempty"`
	SentAt time.Time      `json:"sent_at"`
}

type webhookOffer struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// webhookMember carries the contacts the messaging service sends to:
// masked (ContactsMasked) unless the sending department sees members'
// contacts or an admin allowed the rule to carry them.
type webhookMember struct {
	ID             int64  `json:"id"`
	Phone          string `json:"phone,omitempty"`
	Email          string `json:"email,omitempty"`
	ContactsMasked bool   `json:"contacts_masked,omitempty"`
}

// SendingDepartment is the department whose data policy what the offer
// channels send out follows: offers are marketing's.
const SendingDepartment = lianlu.DeptMarketing

// memberFor returns what a rule's webhook sends of m: her id, and her
// contacts in clear only when the sending department sees them
// (lianlu.SeesMemberPII) or the rule has AllowContacts.
func memberFor(r lianlu.OfferRule, m lianlu.Member) webhookMember {
	out := webhookMember{ID: m.ID, Phone: m.Phone, Email: m.Email}
	if r.AllowContacts || lianlu.SeesMemberPII(lianlu.Principal{Department: SendingDepartment, Role: lianlu.RoleOperator}) {
		return out
	}
	if out.Phone != "" {
		out.Phone = access.MaskPhone(out.Phone)
	}
	if out.Email != "" {
		out.Email = access.MaskEmail(out.Email)
	}
	out.ContactsMasked = true
	return out
}

type webhookCoupon struct {
	Code       string       `json:"code"`
	ValueOff   lianlu.Money `json:"value_off"`
	MinTotal   lianlu.Money `json:"min_total"`
	ValidUntil time.Time    `json:"valid_until"`
}

// Send enqueues the delivery.
func (Webhook) Send(ctx context.Context, tx *sqlstore.Tx, m Message) error {
	secret, err := sqlstore.WebhookSecretTx(ctx, tx, m.Rule.SecretRef)
	if err != nil {
		return err
	}
	p := WebhookPayload{Type: "offer.sent", SendID: m.SendID, SentAt: m.At,
		Offer:  webhookOffer{ID: m.Rule.ID, Name: m.Rule.Name, Title: m.Rule.Title, Body: m.Rule.Body},
		Member: memberFor(m.Rule, m.Member)}
	if c := m.Coupon; c != nil {
		p.Coupon = &webhookCoupon{Code: c.Code, ValueOff: c.ValueOff, MinTotal: c.MinTotal, ValidUntil: c.ValidUntil}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = sqlstore.EnqueueDeliveryTx(ctx, tx, sqlstore.DirectDelivery{URL: m.Rule.WebhookURL, Secret: secret, MsgID: "offer_send_" + strconv.FormatInt(m.SendID, 10),
		Payload: b, EventType: "offer.sent", Subject: sqlstore.MemberSubject(m.Member.ID), Department: SendingDepartment})
	return err
}
