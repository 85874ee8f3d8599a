package sqlstore

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/lianlu/lianlu"
)

// DefaultPhoneRegion is the region in which phone numbers without a country
// code are read.
const DefaultPhoneRegion = "CN"

// NormalizePhone returns a phone number in E.164 form, reading numbers
// without a country code in region. EINVALID when it is not a valid number.
func NormalizePhone(raw, region string) (string, error) {
	if len(raw) > 64 {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "phone", Message: "not a valid phone number"})
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "phone", Message: "not a valid phone number"})
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// NormalizeEmail lower-cases and checks an email address.
func NormalizeEmail(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Address != raw || len(raw) > 254 {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "email", Message: "not a valid email address"})
	}
	return strings.ToLower(raw), nil
}

// resolveMemberTx finds the member a reference names, creating one for a
// contact that is not known yet. Field errors are prefixed with prefix.
func resolveMemberTx(ctx context.Context, tx *Tx, ref lianlu.MemberRef, prefix string) (int64, error) {
	prefixed := func(err error) error {
		if fs := lianlu.ErrorFields(err); len(fs) > 0 {
			for i := range fs {
				fs[i].Field = prefix + fs[i].Field
			}
			return lianlu.Invalid(fs...)
		}
		return err
	}
	switch {
	case ref.ID != 0:
		var id int64
		if err := tx.queryRow(ctx, `SELECT id FROM members WHERE id = ?`, ref.ID).Scan(&id); err != nil {
			if isNotFound(err) {
				return 0, lianlu.Invalid(lianlu.FieldError{Field: prefix + "id", Message: "unknown member"})
			}
			return 0, fmt.Errorf("find member: %w", err)
		}
		return id, nil
	case ref.Phone != "":
		phone, err := NormalizePhone(ref.Phone, DefaultPhoneRegion)
		if err != nil {
			return 0, prefixed(err)
		}
		return findOrCreateMember(ctx, tx, "phone", phone)
	case ref.Email != "":
		email, err := NormalizeEmail(ref.Email)
		if err != nil {
			return 0, prefixed(err)
		}
		return findOrCreateMember(ctx, tx, "email", email)
	default:
		return 0, lianlu.Invalid(lianlu.FieldError{Field: strings.TrimSuffix(prefix, "."), Message: "give id, phone or email"})
	}
}

// findOrCreateMember is safe under concurrency: the unique contact column
// decides which of two racing inserts creates the member.
func findOrCreateMember(ctx context.Context, tx *Tx, column, value string) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO members (`+column+`, created_at) VALUES (?, ?) ON CONFLICT (`+column+`) DO NOTHING RETURNING id`,
		value, tx.db.dialect.timeArg(tx.now)).Scan(&id)
	switch {
	case err == nil:
		_, err = appendCommandEvent(ctx, tx, "member.created", fmt.Sprintf("member/%d", id), lianlu.DeptSales, "",
			map[string]any{"id": id, "via": column})
		return id, err
	case !isNotFound(err):
		return 0, fmt.Errorf("create member: %w", err)
	}
	if err := tx.queryRow(ctx, `SELECT id FROM members WHERE `+column+` = ?`, value).Scan(&id); err != nil {
		return 0, fmt.Errorf("find member: %w", err)
	}
	return id, nil
}
