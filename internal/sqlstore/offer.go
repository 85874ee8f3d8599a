package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
)

// OfferRuleSubject is the event subject of an offer rule.
func OfferRuleSubject(id int64) string { return "offer_rule/" + strconv.FormatInt(id, 10) }

// ruleDefinition is what the definition column holds: the rule without the
// columns of its own.
type ruleDefinition struct {
	Description string          `json:"description"`
	Triggers    []string        `json:"triggers"`
	Condition   string          `json:"condition"`
	Delay       lianlu.Duration `json:"delay"`
	Channel     string          `json:"channel"`
	WebhookURL  string          `json:"webhook_url,omitempty"`
	SecretRef   string          `json:"secret_ref,omitempty"`
	// AllowContacts is kept only when set: rules stored before it
	// existed read as false, which is the safe default.
	AllowContacts bool                   `json:"allow_contacts,omitempty"`
	Title         string                 `json:"title"`
	Body          string                 `json:"body"`
	Coupon        *lianlu.CouponTemplate `json:"coupon,omitempty"`
	Cap           lianlu.FrequencyCap    `json:"frequency_cap"`
	QuietHours    *lianlu.QuietHours     `json:"quiet_hours,omitempty"`
	Timezone      string                 `json:"timezone"`
}

const offerRuleColumns = `id, name, definition, after_seq, active, created_by, created_at, updated_at`

func scanOfferRule(r rowScanner) (lianlu.OfferRule, error) {
	var o lianlu.OfferRule
	var def []byte
	if err := r.Scan(&o.ID, &o.Name, &def, &o.AfterSeq, &o.Active, &o.CreatedBy, sqlTime{&o.CreatedAt}, sqlTime{&o.UpdatedAt}); err != nil {
		return o, err
	}
	var d ruleDefinition
	if err := json.Unmarshal(def, &d); err != nil {
		return o, fmt.Errorf("decode offer rule %d: %w", o.ID, err)
	}
	o.Description, o.Triggers, o.Condition, o.Delay, o.Channel, o.WebhookURL, o.SecretRef = d.Description, d.Triggers, d.Condition, d.Delay, d.Channel, d.WebhookURL, d.SecretRef
	o.AllowContacts = d.AllowContacts
	o.Title, o.Body, o.Coupon, o.Cap, o.QuietHours, o.Timezone = d.Title, d.Body, d.Coupon, d.Cap, d.QuietHours, d.Timezone
	return o, nil
}

// SaveOfferRule stores a validated rule: a new one when r.ID is 0, else a
// replacement (ENOTFOUND for an unknown id). Audited, with offer.rule_saved.
// AllowContacts is an admin's to grant (EFORBIDDEN otherwise, see
// checkAllowContacts); a change of it is audited on its own.
func (db *DB) SaveOfferRule(ctx context.Context, r lianlu.OfferRule) (lianlu.OfferRule, error) {
	def, err := json.Marshal(ruleDefinition{Description: r.Description, Triggers: r.Triggers, Condition: r.Condition, Delay: r.Delay, Channel: r.Channel,
		WebhookURL: r.WebhookURL, SecretRef: r.SecretRef, AllowContacts: r.AllowContacts, Title: r.Title, Body: r.Body, Coupon: r.Coupon, Cap: r.Cap, QuietHours: r.QuietHours, Timezone: r.Timezone})
	if err != nil {
		return r, err
	}
	err = db.WithTx(ctx, func(tx *Tx) error {
		if err := checkOfferSecretRefTx(ctx, tx, r.SecretRef); err != nil {
			return err
		}
		d := tx.db.dialect
		var prev lianlu.OfferRule
		if r.ID != 0 {
			var err error
			if prev, err = FindOfferRuleTx(ctx, tx, r.ID); err != nil {
				return err
			}
		}
		if err := checkAllowContacts(ctx, prev, r); err != nil {
			return err
		}
		if r.ID == 0 {
			r.CreatedBy, r.CreatedAt = actorOf(ctx), tx.now
			var after *int64
			if err := tx.queryRow(ctx, `SELECT MAX(seq) FROM events`).Scan(&after); err != nil {
				return fmt.Errorf("log end: %w", err)
			}
			r.AfterSeq = derefInt(after)
			if err := tx.queryRow(ctx, `INSERT INTO offer_rules (name, definition, after_seq, active, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				r.Name, string(def), r.AfterSeq, r.Active, r.CreatedBy, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&r.ID); err != nil {
				if isUniqueViolation(err) {
					return lianlu.Invalid(lianlu.FieldError{Field: "name", Message: "another rule has this name"})
				}
				return fmt.Errorf("insert offer rule: %w", err)
			}
		} else {
			r.CreatedBy, r.CreatedAt, r.AfterSeq = prev.CreatedBy, prev.CreatedAt, prev.AfterSeq
			if _, err := tx.exec(ctx, `UPDATE offer_rules SET name = ?, definition = ?, active = ?, updated_at = ? WHERE id = ?`,
				r.Name, string(def), r.Active, d.timeArg(tx.now), r.ID); err != nil {
				if isUniqueViolation(err) {
					return lianlu.Invalid(lianlu.FieldError{Field: "name", Message: "another rule has this name"})
				}
				return fmt.Errorf("update offer rule: %w", err)
			}
		}
		r.UpdatedAt = tx.now
		if _, err := appendCommandEvent(ctx, tx, "offer.rule_saved", OfferRuleSubject(r.ID), lianlu.DeptMarketing, "", r); err != nil {
			return err
		}
		if r.AllowContacts != prev.AllowContacts {
			action, url := "offer_rule.contacts_allowed", r.WebhookURL
			if !r.AllowContacts {
				action, url = "offer_rule.contacts_disallowed", prev.WebhookURL
			}
			if err := WriteAudit(ctx, tx, action, "offer_rule", strconv.FormatInt(r.ID, 10), lianlu.DeptMarketing,
				map[string]any{"name": r.Name, "webhook_url": url}); err != nil {
				return err
			}
		}
		return WriteAudit(ctx, tx, "offer_rule.saved", "offer_rule", strconv.FormatInt(r.ID, 10), lianlu.DeptMarketing,
			map[string]any{"name": r.Name, "active": r.Active, "allow_contacts": r.AllowContacts})
	})
	return r, err
}

// checkAllowContacts lets only an admin grant a rule the right to send
// members' contacts in clear (prev is the stored rule, zero for a new
// one). The grant is for the URL and channel the admin saw: a non-admin
// may keep it while editing the rest, or turn it off, but not keep it
// while pointing the rule elsewhere.
func checkAllowContacts(ctx context.Context, prev, r lianlu.OfferRule) error {
	if !r.AllowContacts {
		return nil
	}
	if p, _ := lianlu.PrincipalFromContext(ctx); p.IsAdmin() {
		return nil
	}
	if !prev.AllowContacts {
		return lianlu.Errorf(lianlu.EFORBIDDEN, "allow_contacts: only an admin lets an offer rule send members' contacts in clear")
	}
	if prev.WebhookURL != r.WebhookURL || prev.Channel != r.Channel {
		return lianlu.Errorf(lianlu.EFORBIDDEN, "allow_contacts: an admin allowed this rule to send members' contacts to %s only; "+
			"save the new URL with allow_contacts false, or ask an admin", prev.WebhookURL)
	}
	return nil
}

// checkOfferSecretRefTx allows a rule's secret_ref only when it names an
// active webhook subscription of marketing's (or the admins'): offers are
// marketing's, and may not be signed with another department's secret.
func checkOfferSecretRefTx(ctx context.Context, tx *Tx, ref string) error {
	if ref == "" {
		return nil
	}
	bad := func(msg string) error { return lianlu.Invalid(lianlu.FieldError{Field: "secret_ref", Message: msg}) }
	id, err := strconv.ParseInt(strings.TrimPrefix(ref, "webhook/"), 10, 64)
	if err != nil || id < 1 {
		return bad("must name a webhook by id, such as webhook/12")
	}
	var dept *string // no department: an admin's subscription
	err = tx.queryRow(ctx, `SELECT department FROM webhooks WHERE id = ? AND status = 'active'`, id).Scan(&dept)
	switch {
	case isNotFound(err):
		return bad("no active webhook " + strconv.FormatInt(id, 10))
	case err != nil:
		return fmt.Errorf("offer secret_ref: %w", err)
	case dept != nil && *dept != lianlu.DeptMarketing && *dept != lianlu.DeptAdmin:
		return bad("webhook " + strconv.FormatInt(id, 10) + " is not marketing's")
	}
	return nil
}

// FindOfferRule returns a rule or ENOTFOUND.
func (db *DB) FindOfferRule(ctx context.Context, id int64) (r lianlu.OfferRule, err error) {
	err = db.readTx(ctx, func(tx *Tx) error {
		r, err = FindOfferRuleTx(ctx, tx, id)
		return err
	})
	return r, err
}

// FindOfferRules lists rules by id.
func (db *DB) FindOfferRules(ctx context.Context, afterID int64, limit int) ([]lianlu.OfferRule, error) {
	rows, err := db.readQuery(ctx, `SELECT `+offerRuleColumns+` FROM offer_rules WHERE id > ? ORDER BY id LIMIT `+strconv.Itoa(clampLimit(limit)), afterID)
	if err != nil {
		return nil, fmt.Errorf("find offer rules: %w", err)
	}
	return collectOfferRules(rows)
}

// FindActiveOfferRules returns the active rules, on the reader pool.
func (db *DB) FindActiveOfferRules(ctx context.Context) (rules []lianlu.OfferRule, err error) {
	err = db.readTx(ctx, func(tx *Tx) error {
		rules, err = FindActiveOfferRulesTx(ctx, tx)
		return err
	})
	return rules, err
}

// FindActiveOfferRulesTx returns the active rules.
func FindActiveOfferRulesTx(ctx context.Context, tx *Tx) ([]lianlu.OfferRule, error) {
	rows, err := tx.query(ctx, `SELECT `+offerRuleColumns+` FROM offer_rules WHERE active = ? ORDER BY id`, true)
	if err != nil {
		return nil, fmt.Errorf("find offer rules: %w", err)
	}
	return collectOfferRules(rows)
}

// FindOfferRuleTx returns a rule in tx.
func FindOfferRuleTx(ctx context.Context, tx *Tx, id int64) (lianlu.OfferRule, error) {
	r, err := scanOfferRule(tx.queryRow(ctx, `SELECT `+offerRuleColumns+` FROM offer_rules WHERE id = ?`, id))
	if err != nil {
		return r, fmt.Errorf("offer rule %d: %w", id, mapError(err))
	}
	return r, nil
}

func collectOfferRules(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]lianlu.OfferRule, error) {
	defer rows.Close()
	out := []lianlu.OfferRule{}
	for rows.Next() {
		r, err := scanOfferRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DueSend is a scheduled send with whether its condition was evaluated.
type DueSend struct {
	lianlu.OfferSend
	// Evaluated is false for a rule with a delay: its condition is judged
	// when it comes due.
	Evaluated bool
}

const offerSendColumns = `id, rule_id, member_id, trigger_seq, channel, status, evaluated, reason, due_at, sent_at, coupon_code, created_at`

func scanOfferSend(r rowScanner) (DueSend, error) {
	var s DueSend
	var reason, coupon *string
	err := r.Scan(&s.ID, &s.RuleID, &s.MemberID, &s.TriggerSeq, &s.Channel, &s.Status, &s.Evaluated, &reason, sqlTime{&s.DueAt}, nullTime{&s.SentAt}, &coupon, sqlTime{&s.CreatedAt})
	s.Reason, s.Coupon = deref(reason), deref(coupon)
	return s, err
}

// InsertOfferSendTx records a decision about a rule, a member and a
// trigger; it returns false, writing nothing, when that decision exists
// (a replayed event).
func InsertOfferSendTx(ctx context.Context, tx *Tx, s *DueSend) (bool, error) {
	d := tx.db.dialect
	s.CreatedAt = tx.now
	err := tx.queryRow(ctx, `INSERT INTO offer_sends (rule_id, member_id, trigger_seq, channel, status, evaluated, reason, due_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule_id, member_id, trigger_seq) DO NOTHING RETURNING id`,
		s.RuleID, s.MemberID, s.TriggerSeq, s.Channel, s.Status, s.Evaluated, nullString(s.Reason), d.timeArg(s.DueAt), d.timeArg(tx.now)).Scan(&s.ID)
	if isNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("insert offer send: %w", err)
	}
	return true, nil
}

// UpdateOfferSendTx writes a send's outcome.
func UpdateOfferSendTx(ctx context.Context, tx *Tx, s DueSend) error {
	d := tx.db.dialect
	_, err := tx.exec(ctx, `UPDATE offer_sends SET status = ?, evaluated = ?, reason = ?, due_at = ?, sent_at = ?, coupon_code = ? WHERE id = ?`,
		s.Status, s.Evaluated, nullString(s.Reason), d.timeArg(s.DueAt), timePtrArg(d, s.SentAt), nullString(s.Coupon), s.ID)
	if err != nil {
		return fmt.Errorf("update offer send: %w", err)
	}
	return nil
}

// CountRecentSendsTx counts a rule's sends to a member, sent or scheduled,
// created since since (the frequency cap's window).
func CountRecentSendsTx(ctx context.Context, tx *Tx, ruleID, memberID int64, since time.Time) (int, error) {
	var n int
	err := tx.queryRow(ctx, `SELECT COUNT(*) FROM offer_sends WHERE rule_id = ? AND member_id = ? AND status IN (?, ?) AND evaluated = ? AND created_at >= ?`,
		ruleID, memberID, lianlu.SendSent, lianlu.SendScheduled, true, tx.db.dialect.timeArg(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count offer sends: %w", err)
	}
	return n, nil
}

// FindDueSendsTx returns scheduled sends due by now, oldest first.
func FindDueSendsTx(ctx context.Context, tx *Tx, now time.Time, limit int) ([]DueSend, error) {
	rows, err := tx.query(ctx, `SELECT `+offerSendColumns+` FROM offer_sends WHERE status = ? AND due_at <= ? ORDER BY due_at, id LIMIT `+strconv.Itoa(limit),
		lianlu.SendScheduled, tx.db.dialect.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("find due offer sends: %w", err)
	}
	defer rows.Close()
	var out []DueSend
	for rows.Next() {
		s, err := scanOfferSend(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// HasDueSends reports, on the reader, whether any scheduled send is due.
func (db *DB) HasDueSends(ctx context.Context, now time.Time) (bool, error) {
	var n int
	err := db.readRow(ctx, `SELECT COUNT(*) FROM (SELECT id FROM offer_sends WHERE status = ? AND due_at <= ? LIMIT 1) due`,
		lianlu.SendScheduled, db.dialect.timeArg(now)).Scan(&n)
	return n > 0, err
}

// FindOfferSends lists sends newest first, for a member and/or a rule.
func (db *DB) FindOfferSends(ctx context.Context, memberID, ruleID, beforeID int64, limit int) ([]lianlu.OfferSend, error) {
	q := `SELECT ` + offerSendColumns + ` FROM offer_sends WHERE 1 = 1`
	var args []any
	if memberID != 0 {
		q += ` AND member_id = ?`
		args = append(args, memberID)
	}
	if ruleID != 0 {
		q += ` AND rule_id = ?`
		args = append(args, ruleID)
	}
	if beforeID > 0 {
		q += ` AND id < ?`
		args = append(args, beforeID)
	}
	rows, err := db.readQuery(ctx, q+` ORDER BY id DESC LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find offer sends: %w", err)
	}
	defer rows.Close()
	out := []lianlu.OfferSend{}
	for rows.Next() {
		s, err := scanOfferSend(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s.OfferSend)
	}
	return out, rows.Err()
}

// InboxFor returns the inbox offers sent to a member, newest first.
func (db *DB) InboxFor(ctx context.Context, memberID int64, limit int) ([]lianlu.InboxMessage, error) {
	out := []lianlu.InboxMessage{}
	err := db.readTx(ctx, func(tx *Tx) error {
		var merged *int64
		if err := tx.queryRow(ctx, `SELECT merged_into FROM members WHERE id = ?`, memberID).Scan(&merged); err != nil {
			return fmt.Errorf("member %d: %w", memberID, mapError(err))
		}
		if merged != nil {
			memberID = *merged
		}
		rows, err := tx.query(ctx, `SELECT s.id, s.rule_id, r.definition, s.coupon_code, c.valid_until, s.sent_at
			FROM offer_sends s JOIN offer_rules r ON r.id = s.rule_id LEFT JOIN coupons c ON c.code = s.coupon_code
			WHERE s.member_id = ? AND s.channel = ? AND s.status = ? ORDER BY s.id DESC LIMIT `+strconv.Itoa(clampLimit(limit)),
			memberID, lianlu.OfferInbox, lianlu.SendSent)
		if err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m lianlu.InboxMessage
			var def []byte
			var coupon *string
			var sent *time.Time
			if err := rows.Scan(&m.ID, &m.OfferID, &def, &coupon, nullTime{&m.ValidUntil}, nullTime{&sent}); err != nil {
				return err
			}
			var d ruleDefinition
			if err := json.Unmarshal(def, &d); err != nil {
				return fmt.Errorf("decode offer rule: %w", err)
			}
			m.Title, m.Body, m.Coupon = d.Title, d.Body, deref(coupon)
			if sent != nil {
				m.CreatedAt = *sent
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

// couponAlphabet is Crockford's base32: no I, L, O or U to misread.
const couponAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newCouponCode() string {
	b := make([]byte, 10)
	rand.Read(b)
	var sb strings.Builder
	sb.WriteString("LL-")
	for _, c := range b {
		sb.WriteByte(couponAlphabet[int(c)%len(couponAlphabet)])
	}
	return sb.String()
}

const couponColumns = `code, rule_id, member_id, value_minor, min_total_minor, valid_from, valid_until, status, order_id, redeemed_at`

func scanCoupon(r rowScanner) (lianlu.Coupon, error) {
	var c lianlu.Coupon
	var value, minTotal int64
	var order *int64
	err := r.Scan(&c.Code, &c.RuleID, &c.MemberID, &value, &minTotal, sqlTime{&c.ValidFrom}, sqlTime{&c.ValidUntil}, &c.Status, &order, nullTime{&c.RedeemedAt})
	c.ValueOff, c.MinTotal, c.OrderID = lianlu.Money(value), lianlu.Money(minTotal), derefInt(order)
	return c, err
}

// IssueCouponTx gives a member the rule's coupon: the unredeemed,
// unexpired one she has from this rule, or a new code valid from now for
// the template's days.
func IssueCouponTx(ctx context.Context, tx *Tx, ruleID, memberID int64, t lianlu.CouponTemplate) (lianlu.Coupon, error) {
	d := tx.db.dialect
	c, err := scanCoupon(tx.queryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE rule_id = ? AND member_id = ? AND status = ? AND valid_until > ? ORDER BY id DESC LIMIT 1`,
		ruleID, memberID, lianlu.CouponIssued, d.timeArg(tx.now)))
	if err == nil {
		return c, nil
	} else if !isNotFound(err) {
		return c, fmt.Errorf("find coupon: %w", err)
	}
	c = lianlu.Coupon{RuleID: ruleID, MemberID: memberID, ValueOff: t.ValueOff, MinTotal: t.MinTotal, ValidFrom: tx.now,
		ValidUntil: tx.now.AddDate(0, 0, max(t.ValidDays, 1)), Status: lianlu.CouponIssued}
	for range 5 {
		c.Code = newCouponCode()
		res, err := tx.exec(ctx, `INSERT INTO coupons (code, rule_id, member_id, value_minor, min_total_minor, valid_from, valid_until, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING`,
			c.Code, ruleID, memberID, int64(c.ValueOff), int64(c.MinTotal), d.timeArg(c.ValidFrom), d.timeArg(c.ValidUntil), c.Status, d.timeArg(tx.now))
		if err != nil {
			return c, fmt.Errorf("issue coupon: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return c, nil
		}
	}
	return c, fmt.Errorf("issue coupon: no unique code after 5 tries")
}

// FindCoupon returns a coupon by code.
func (db *DB) FindCoupon(ctx context.Context, code string) (lianlu.Coupon, error) {
	c, err := scanCoupon(db.readRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE code = ?`, strings.ToUpper(strings.TrimSpace(code))))
	if err != nil {
		return c, fmt.Errorf("coupon: %w", mapError(err))
	}
	return c, nil
}

// checkCouponTx finds the coupon an order names and checks that it can pay
// for this order: known (EINVALID), the order's member's (EINVALID),
// within its validity and unused (ECONFLICT), and the order large enough
// (EINVALID).
func checkCouponTx(ctx context.Context, tx *Tx, code string, memberID int64, total lianlu.Money, at time.Time) (lianlu.Coupon, error) {
	bad := func(msg string) error { return lianlu.Invalid(lianlu.FieldError{Field: "coupon", Message: msg}) }
	c, err := scanCoupon(tx.queryRow(ctx, `SELECT `+couponColumns+` FROM coupons WHERE code = ?`, strings.ToUpper(strings.TrimSpace(code))))
	switch {
	case isNotFound(err):
		return c, bad("unknown coupon")
	case err != nil:
		return c, fmt.Errorf("find coupon: %w", err)
	case memberID == 0:
		return c, bad("a coupon needs the order's member")
	}
	var merged *int64
	if err := tx.queryRow(ctx, `SELECT merged_into FROM members WHERE id = ?`, c.MemberID).Scan(&merged); err != nil {
		return c, fmt.Errorf("coupon member: %w", err)
	}
	if merged != nil {
		c.MemberID = *merged
	}
	switch {
	case c.MemberID != memberID:
		return c, bad("this coupon belongs to another member")
	case c.Status == lianlu.CouponRedeemed:
		return c, &lianlu.Error{Code: lianlu.ECONFLICT, Message: "coupon " + c.Code + " was already redeemed", Fields: []lianlu.FieldError{{Field: "coupon", Message: "already redeemed"}}}
	case !at.Before(c.ValidUntil) || at.Before(c.ValidFrom):
		return c, &lianlu.Error{Code: lianlu.ECONFLICT, Message: "coupon " + c.Code + " is not valid now", Fields: []lianlu.FieldError{{Field: "coupon", Message: "expired or not yet valid"}}}
	case total < c.MinTotal:
		return c, bad("the order total is below the coupon's minimum of " + c.MinTotal.String())
	}
	return c, nil
}

// redeemCouponTx marks a checked coupon redeemed by an order, appending
// offer.redeemed; ECONFLICT when another order redeemed it meanwhile.
func redeemCouponTx(ctx context.Context, tx *Tx, c lianlu.Coupon, orderID int64, discount lianlu.Money) error {
	d := tx.db.dialect
	res, err := tx.exec(ctx, `UPDATE coupons SET status = ?, order_id = ?, redeemed_at = ? WHERE code = ? AND status = ?`,
		lianlu.CouponRedeemed, orderID, d.timeArg(tx.now), c.Code, lianlu.CouponIssued)
	if err != nil {
		return fmt.Errorf("redeem coupon: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return lianlu.Errorf(lianlu.ECONFLICT, "coupon %s was already redeemed", c.Code)
	}
	_, err = appendCommandEvent(ctx, tx, "offer.redeemed", MemberSubject(c.MemberID), lianlu.DeptMarketing, "coupon/"+c.Code+"/redeemed",
		map[string]any{"coupon": c.Code, "rule_id": c.RuleID, "member_id": c.MemberID, "order_id": orderID, "discount": discount})
	return err
}
