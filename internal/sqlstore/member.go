package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/lianlu/lianlu"
)

// DefaultPhoneRegion is the region in which phone numbers without a country
// code are read unless Options.PhoneRegion says otherwise.
const DefaultPhoneRegion = "CN"

// PhoneRegion returns the region in which national phone numbers are read.
func (db *DB) PhoneRegion() string { return db.phoneRegion }

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

var wechatIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)

// NormalizeIdentity checks an identity and returns its value in normal form:
// phone numbers in E.164 (national numbers read in region), emails in lower
// case, WeChat ids as given, collector and external ids trimmed. External
// ids need a namespace (the system they come from). EINVALID names "kind",
// "namespace" or "value".
func NormalizeIdentity(kind, namespace, value, region string) (string, error) {
	bad := func(field, msg string) error { return lianlu.Invalid(lianlu.FieldError{Field: field, Message: msg}) }
	if kind != lianlu.IdentityExternal && kind != lianlu.IdentityWeChatOpenID && namespace != "" {
		return "", bad("namespace", "only external ids and WeChat openids have a namespace")
	}
	if namespace != "" && !codeRe.MatchString(namespace) {
		return "", bad("namespace", "1–64 letters, digits or ._-")
	}
	if strings.Contains(value, lianlu.Erased) {
		// What an erasure left in the log names nobody: a consumer that
		// reads a scrubbed event must not link it to anyone.
		return "", bad("value", "erased")
	}
	switch kind {
	case lianlu.IdentityPhone:
		v, err := NormalizePhone(value, region)
		if err != nil {
			return "", bad("value", "not a valid phone number")
		}
		return v, nil
	case lianlu.IdentityEmail:
		v, err := NormalizeEmail(value)
		if err != nil {
			return "", bad("value", "not a valid email address")
		}
		return v, nil
	case lianlu.IdentityWeChatOpenID, lianlu.IdentityWeChatUnionID:
		if !wechatIDRe.MatchString(value) {
			return "", bad("value", "6–64 letters, digits, _ or -")
		}
		return value, nil
	case lianlu.IdentityAnonymousID, lianlu.IdentityUserID, lianlu.IdentityExternal:
		value = strings.TrimSpace(value)
		if kind == lianlu.IdentityExternal && namespace == "" {
			return "", bad("namespace", "required for external ids: the system they come from")
		}
		if value == "" || len(value) > lianlu.MaxEventIDLen || strings.IndexFunc(value, unicode.IsControl) >= 0 {
			return "", bad("value", "1–256 bytes without control characters")
		}
		return value, nil
	default:
		return "", bad("kind", "one of "+strings.Join(lianlu.IdentityKinds, ", "))
	}
}

// MemberSubject is the event subject of a member.
func MemberSubject(id int64) string { return "member/" + strconv.FormatInt(id, 10) }

// resolveMemberTx finds the member a reference names, creating one for a
// contact that is not known yet. Field errors are prefixed with prefix.
// Contacts given with an order or a request are verified identities: the
// channel that sent them asserts them.
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
		var merged *int64
		if err := tx.queryRow(ctx, `SELECT merged_into FROM members WHERE id = ?`, ref.ID).Scan(&merged); err != nil {
			if isNotFound(err) {
				return 0, lianlu.Invalid(lianlu.FieldError{Field: prefix + "id", Message: "unknown member"})
			}
			return 0, fmt.Errorf("find member: %w", err)
		}
		if merged != nil {
			return *merged, nil
		}
		return ref.ID, nil
	case ref.Phone != "":
		phone, err := NormalizePhone(ref.Phone, tx.db.phoneRegion)
		if err != nil {
			return 0, prefixed(err)
		}
		id, _, err := FindOrCreateMemberTx(ctx, tx, lianlu.Identity{Kind: lianlu.IdentityPhone, Value: phone, Verified: true, Source: "api"})
		return id, err
	case ref.Email != "":
		email, err := NormalizeEmail(ref.Email)
		if err != nil {
			return 0, prefixed(err)
		}
		id, _, err := FindOrCreateMemberTx(ctx, tx, lianlu.Identity{Kind: lianlu.IdentityEmail, Value: email, Verified: true, Source: "api"})
		return id, err
	default:
		return 0, lianlu.Invalid(lianlu.FieldError{Field: strings.TrimSuffix(prefix, "."), Message: "give id, phone or email"})
	}
}

// MemberIDByIdentityTx returns the member holding a normalised identity, or
// ENOTFOUND.
func MemberIDByIdentityTx(ctx context.Context, tx *Tx, kind, namespace, value string) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `SELECT member_id FROM member_identities WHERE kind = ? AND namespace = ? AND value = ?`, kind, namespace, value).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("find identity: %w", mapError(err))
	}
	return id, nil
}

// FindOrCreateMemberTx returns the member holding a normalised identity,
// creating her (with member.created) when nobody does. A verified identity
// marks a stored unverified one verified. Safe under concurrency: the
// unique contact columns and identities decide which racing insert wins.
func FindOrCreateMemberTx(ctx context.Context, tx *Tx, ident lianlu.Identity) (id int64, created bool, err error) {
	id, err = MemberIDByIdentityTx(ctx, tx, ident.Kind, ident.Namespace, ident.Value)
	switch {
	case err == nil:
		if ident.Verified {
			if _, err := tx.exec(ctx, `UPDATE member_identities SET verified = ? WHERE kind = ? AND namespace = ? AND value = ? AND verified = ?`,
				true, ident.Kind, ident.Namespace, ident.Value, false); err != nil {
				return 0, false, fmt.Errorf("verify identity: %w", err)
			}
		}
		return id, false, nil
	case lianlu.ErrorCode(err) != lianlu.ENOTFOUND:
		return 0, false, err
	}
	d := tx.db.dialect
	now := d.timeArg(tx.now)
	switch ident.Kind {
	case lianlu.IdentityPhone, lianlu.IdentityEmail:
		err = tx.queryRow(ctx, `INSERT INTO members (`+ident.Kind+`, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (`+ident.Kind+`) DO NOTHING RETURNING id`,
			ident.Value, now, now).Scan(&id)
		if isNotFound(err) {
			// A concurrent transaction created her first.
			id, err = MemberIDByIdentityTx(ctx, tx, ident.Kind, ident.Namespace, ident.Value)
			return id, false, err
		}
	default:
		err = tx.queryRow(ctx, `INSERT INTO members (created_at, updated_at) VALUES (?, ?) RETURNING id`, now, now).Scan(&id)
	}
	if err != nil {
		return 0, false, fmt.Errorf("create member: %w", err)
	}
	if _, err := AddIdentityTx(ctx, tx, id, ident); err != nil {
		return 0, false, err
	}
	_, err = appendCommandEvent(ctx, tx, "member.created", MemberSubject(id), lianlu.DeptSales, "",
		map[string]any{"id": id, "via": ident.Kind, "source": ident.Source})
	return id, true, err
}

// AddIdentityTx gives member id a normalised identity and returns the member
// who holds it afterwards: id, or another member who already held it (the
// caller decides about merging).
func AddIdentityTx(ctx context.Context, tx *Tx, id int64, ident lianlu.Identity) (int64, error) {
	if ident.Source == "" {
		ident.Source = "api"
	}
	var newID int64
	err := tx.queryRow(ctx, `INSERT INTO member_identities (member_id, kind, namespace, value, verified, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, namespace, value) DO NOTHING RETURNING id`,
		id, ident.Kind, ident.Namespace, ident.Value, ident.Verified, ident.Source, tx.db.dialect.timeArg(tx.now)).Scan(&newID)
	if err == nil {
		return id, nil
	} else if !isNotFound(err) {
		return 0, fmt.Errorf("add identity: %w", err)
	}
	return MemberIDByIdentityTx(ctx, tx, ident.Kind, ident.Namespace, ident.Value)
}

// MemberHasVerifiedIdentityTx reports whether a member holds a verified
// identity.
func MemberHasVerifiedIdentityTx(ctx context.Context, tx *Tx, id int64) (bool, error) {
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM member_identities WHERE member_id = ? AND verified = ?`, id, true).Scan(&n); err != nil {
		return false, fmt.Errorf("verified identities: %w", err)
	}
	return n > 0, nil
}

const memberColumns = `m.id, m.phone, m.email, m.traits, m.tags, m.tier, hs.code, js.code, m.joined_staff, m.joined_at, m.merged_into, m.created_at, m.updated_at, m.erased_at`

const memberFrom = ` FROM members m LEFT JOIN locations hs ON hs.id = m.home_store_id LEFT JOIN locations js ON js.id = m.joined_store_id`

func scanMember(r rowScanner) (lianlu.Member, error) {
	var m lianlu.Member
	var phone, email, tier, home, joined, staff *string
	var traits, tags []byte
	var merged *int64
	var updated *time.Time
	if err := r.Scan(&m.ID, &phone, &email, &traits, &tags, &tier, &home, &joined, &staff, nullTime{&m.JoinedAt}, &merged,
		sqlTime{&m.CreatedAt}, nullTime{&updated}, nullTime{&m.ErasedAt}); err != nil {
		return m, err
	}
	m.Phone, m.Email, m.Tier, m.HomeStore, m.JoinedStore, m.JoinedStaff = deref(phone), deref(email), deref(tier), deref(home), deref(joined), deref(staff)
	m.UpdatedAt = m.CreatedAt
	if updated != nil {
		m.UpdatedAt = *updated
	}
	if merged != nil {
		m.MergedInto = *merged
	}
	m.Traits = json.RawMessage(traits)
	if err := json.Unmarshal(tags, &m.Tags); err != nil {
		return m, fmt.Errorf("decode member tags: %w", err)
	}
	return m, nil
}

// FindMemberTx reads a member with her identities, consents and merges.
func FindMemberTx(ctx context.Context, tx *Tx, id int64) (lianlu.Member, error) {
	m, err := scanMember(tx.queryRow(ctx, `SELECT `+memberColumns+memberFrom+` WHERE m.id = ?`, id))
	if err != nil {
		return m, fmt.Errorf("member %d: %w", id, mapError(err))
	}
	m.Identities, m.Consents, m.Merges = []lianlu.Identity{}, []lianlu.Consent{}, []lianlu.MemberMerge{}
	rows, err := tx.query(ctx, `SELECT kind, namespace, value, verified, source, created_at FROM member_identities WHERE member_id = ? ORDER BY id`, id)
	if err != nil {
		return m, fmt.Errorf("member identities: %w", err)
	}
	for rows.Next() {
		var i lianlu.Identity
		if err := rows.Scan(&i.Kind, &i.Namespace, &i.Value, &i.Verified, &i.Source, sqlTime{&i.CreatedAt}); err != nil {
			rows.Close()
			return m, err
		}
		m.Identities = append(m.Identities, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return m, err
	}
	rows, err = tx.query(ctx, `SELECT c.purpose, c.granted, c.channel, l.code, c.at FROM member_consents c LEFT JOIN locations l ON l.id = c.store_id
		WHERE c.member_id = ? ORDER BY c.id`, id)
	if err != nil {
		return m, fmt.Errorf("member consents: %w", err)
	}
	for rows.Next() {
		var c lianlu.Consent
		var store *string
		if err := rows.Scan(&c.Purpose, &c.Granted, &c.Channel, &store, sqlTime{&c.At}); err != nil {
			rows.Close()
			return m, err
		}
		c.Store = deref(store)
		m.Consents = append(m.Consents, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return m, err
	}
	m.Merges, err = findMergesTx(ctx, tx, id)
	return m, err
}

// MemberService implements lianlu.MemberService.
type MemberService struct {
	db *DB
}

// NewMemberService returns the member service of db.
func NewMemberService(db *DB) *MemberService { return &MemberService{db: db} }

var _ lianlu.MemberService = (*MemberService)(nil)

// FindMemberByID returns a member with her identities, consents and merges.
func (s *MemberService) FindMemberByID(ctx context.Context, id int64) (lianlu.Member, error) {
	var m lianlu.Member
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		m, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return m, err
}

// FindMemberByIdentity returns the member holding an identity.
func (s *MemberService) FindMemberByIdentity(ctx context.Context, kind, namespace, value string) (lianlu.Member, error) {
	v, err := NormalizeIdentity(kind, namespace, value, s.db.phoneRegion)
	if err != nil {
		return lianlu.Member{}, err
	}
	var m lianlu.Member
	err = s.db.readTx(ctx, func(tx *Tx) error {
		id, err := MemberIDByIdentityTx(ctx, tx, kind, namespace, v)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			return lianlu.Errorf(lianlu.ENOTFOUND, "no member has this %s", kind)
		} else if err != nil {
			return err
		}
		m, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return m, err
}

// Member profile limits.
const (
	maxTraitsBytes = 16 << 10
	maxTags        = 50
)

var tagRe = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._:-]{0,63}$`)

// storeIDByCode returns the row id of a store, or EINVALID naming field.
func storeIDByCode(ctx context.Context, tx *Tx, code, field string) (int64, error) {
	l, err := findLocationByCode(ctx, tx, code)
	switch {
	case lianlu.ErrorCode(err) == lianlu.ENOTFOUND || (err == nil && l.Kind != lianlu.LocationStore):
		return 0, lianlu.Invalid(lianlu.FieldError{Field: field, Message: "unknown store " + code})
	case err != nil:
		return 0, err
	}
	return l.ID, nil
}

// UpdateMember changes a member's traits (merged key by key; null removes
// a key), tags, tier or home store.
func (s *MemberService) UpdateMember(ctx context.Context, id int64, u lianlu.MemberUpdate) (lianlu.Member, error) {
	var errs []lianlu.FieldError
	var patch map[string]json.RawMessage
	if u.Traits != nil {
		if len(u.Traits) > maxTraitsBytes || json.Unmarshal(u.Traits, &patch) != nil || patch == nil {
			errs = append(errs, lianlu.FieldError{Field: "traits", Message: "a JSON object of at most 16 KiB"})
		}
	}
	if u.Tags != nil {
		if len(*u.Tags) > maxTags {
			errs = append(errs, lianlu.FieldError{Field: "tags", Message: "at most 50 tags"})
		}
		for i, t := range *u.Tags {
			if !tagRe.MatchString(t) {
				errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("tags[%d]", i), Message: "1–64 letters, digits, spaces or ._:-"})
			}
		}
	}
	if u.Tier != nil && *u.Tier != "" && !codeRe.MatchString(*u.Tier) {
		errs = append(errs, lianlu.FieldError{Field: "tier", Message: "a tier code such as gold"})
	}
	if len(errs) > 0 {
		return lianlu.Member{}, lianlu.Invalid(errs...)
	}
	var m lianlu.Member
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if m, err = FindMemberTx(ctx, tx, id); err != nil {
			return err
		}
		if m.MergedInto != 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was merged into member %d", id, m.MergedInto)
		}
		traits := map[string]json.RawMessage{}
		if len(m.Traits) > 0 {
			if err := json.Unmarshal(m.Traits, &traits); err != nil {
				return fmt.Errorf("decode traits: %w", err)
			}
		}
		for k, v := range patch {
			if string(v) == "null" {
				delete(traits, k)
			} else {
				traits[k] = v
			}
		}
		tb, _ := json.Marshal(traits)
		if len(tb) > maxTraitsBytes {
			return lianlu.Invalid(lianlu.FieldError{Field: "traits", Message: "traits would exceed 16 KiB"})
		}
		tags := m.Tags
		if u.Tags != nil {
			tags = slices.Compact(slices.Sorted(slices.Values(*u.Tags)))
		}
		tagsB, _ := json.Marshal(nonNilStrings(tags))
		tier := m.Tier
		if u.Tier != nil {
			tier = *u.Tier
			if tier != "" {
				var n int
				if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM member_tiers WHERE tier = ?`, tier).Scan(&n); err != nil {
					return err
				} else if n == 0 {
					return lianlu.Invalid(lianlu.FieldError{Field: "tier", Message: "unknown tier " + tier})
				}
			}
		}
		var home any
		if m.HomeStore != "" {
			if home, err = storeIDByCode(ctx, tx, m.HomeStore, "home_store"); err != nil {
				return err
			}
		}
		if u.HomeStore != nil {
			home = nil
			if *u.HomeStore != "" {
				if home, err = storeIDByCode(ctx, tx, *u.HomeStore, "home_store"); err != nil {
					return err
				}
			}
		}
		if _, err := tx.exec(ctx, `UPDATE members SET traits = ?, tags = ?, tier = ?, home_store_id = ?, updated_at = ? WHERE id = ?`,
			string(tb), string(tagsB), nullString(tier), home, tx.db.dialect.timeArg(tx.now), id); err != nil {
			return fmt.Errorf("update member: %w", err)
		}
		prevTier := m.Tier
		if m, err = FindMemberTx(ctx, tx, id); err != nil {
			return err
		}
		if _, err = appendCommandEvent(ctx, tx, "member.updated", MemberSubject(id), lianlu.DeptSales, "",
			map[string]any{"id": id, "tags": m.Tags, "tier": m.Tier, "home_store": m.HomeStore, "traits_changed": len(patch)}); err != nil {
			return err
		}
		if m.Tier != prevTier {
			// A tier sets the member's prices.
			return WriteAudit(ctx, tx, "member.tier_changed", "member", strconv.FormatInt(id, 10), lianlu.DeptSales,
				map[string]any{"from": prevTier, "to": m.Tier})
		}
		return nil
	})
	return m, err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Join finds or creates the member of a phone number joining in a store.
func (s *MemberService) Join(ctx context.Context, r lianlu.JoinRequest) (lianlu.JoinResult, error) {
	var res lianlu.JoinResult
	phone, err := NormalizePhone(strings.TrimSpace(r.Phone), s.db.phoneRegion)
	if err != nil {
		return res, err
	}
	if r.Channel == "" {
		r.Channel = "store_qr"
	}
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		st, err := findStoreTx(ctx, tx, r.Store)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND || (err == nil && !st.Active) {
			return lianlu.Invalid(lianlu.FieldError{Field: "store", Message: "unknown store " + r.Store})
		} else if err != nil {
			return err
		}
		// An unknown staff code (a stale or mistyped QR code) does not stop
		// the visitor: she joins without staff attribution.
		staff := ""
		for _, m := range st.Staff {
			if m.Code == r.Staff {
				staff = m.Code
			}
		}
		id, created, err := FindOrCreateMemberTx(ctx, tx, lianlu.Identity{Kind: lianlu.IdentityPhone, Value: phone, Verified: true, Source: "join:" + st.Code})
		if err != nil {
			return err
		}
		d := tx.db.dialect
		// Only the first join sets the attribution; the guard makes two
		// racing first scans record one join.
		upd, err := tx.exec(ctx, `UPDATE members SET joined_store_id = ?, joined_staff = ?, joined_at = ?, home_store_id = COALESCE(home_store_id, ?), updated_at = ?
			WHERE id = ? AND joined_at IS NULL`, st.ID, nullString(staff), d.timeArg(tx.now), st.ID, d.timeArg(tx.now), id)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		n, _ := upd.RowsAffected()
		res.First = n == 1
		if res.First {
			if created && r.Locale != "" {
				// A new member's only trait: the language she joined in.
				b, _ := json.Marshal(map[string]string{"locale": r.Locale})
				if _, err := tx.exec(ctx, `UPDATE members SET traits = ? WHERE id = ?`, string(b), id); err != nil {
					return fmt.Errorf("join: locale: %w", err)
				}
			}
			if _, err := appendCommandEvent(ctx, tx, "member.joined", MemberSubject(id), lianlu.DeptStores, "",
				map[string]any{"member_id": id, "store": st.Code, "staff": staff, "channel": r.Channel, "consent": r.Consent}); err != nil {
				return err
			}
		}
		if r.Consent {
			if _, err := recordConsentTx(ctx, tx, id, lianlu.Consent{Purpose: lianlu.ConsentMarketing, Granted: true, Channel: r.Channel, Store: st.Code}, st.ID); err != nil {
				return err
			}
		}
		if _, err := appendCommandEvent(ctx, tx, lianlu.InteractionVisit, MemberSubject(id), lianlu.DeptStores, "",
			map[string]any{"member_id": id, "store": st.Code, "staff": staff, "channel": "qr"}); err != nil {
			return err
		}
		res.Member, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return res, err
}

// AddIdentity gives a member an identity, normalised.
func (s *MemberService) AddIdentity(ctx context.Context, id int64, ident lianlu.Identity) (lianlu.Member, error) {
	v, err := NormalizeIdentity(ident.Kind, ident.Namespace, ident.Value, s.db.phoneRegion)
	if err != nil {
		return lianlu.Member{}, err
	}
	ident.Value = v
	if ident.Source == "" {
		ident.Source = "api"
	}
	var m lianlu.Member
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		if m, err = FindMemberTx(ctx, tx, id); err != nil {
			return err
		}
		if m.MergedInto != 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was merged into member %d", id, m.MergedInto)
		}
		owner, err := AddIdentityTx(ctx, tx, id, ident)
		if err != nil {
			return err
		}
		if owner != id {
			return &lianlu.Error{Code: lianlu.ECONFLICT, Message: fmt.Sprintf("member %d holds this identity; merge the two members instead", owner),
				Fields: []lianlu.FieldError{{Field: "value", Message: "held by another member"}}}
		}
		if ident.Verified {
			if _, err := tx.exec(ctx, `UPDATE member_identities SET verified = ? WHERE kind = ? AND namespace = ? AND value = ?`,
				true, ident.Kind, ident.Namespace, ident.Value); err != nil {
				return fmt.Errorf("verify identity: %w", err)
			}
		}
		if _, err := appendCommandEvent(ctx, tx, "member.identity_added", MemberSubject(id), lianlu.DeptSales, "",
			map[string]any{"member_id": id, "kind": ident.Kind, "namespace": ident.Namespace, "verified": ident.Verified}); err != nil {
			return err
		}
		if ident.Verified {
			// A verified identity keeps the member from ever being merged
			// automatically.
			if err := WriteAudit(ctx, tx, "member.identity_verified", "member", strconv.FormatInt(id, 10), lianlu.DeptSales,
				map[string]any{"kind": ident.Kind, "namespace": ident.Namespace}); err != nil {
				return err
			}
		}
		m, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return m, err
}

// recordConsentTx stores a consent answer unless it repeats the one in
// force, and appends member.consented for a yes or
// member.consent_withdrawn for a no. A no to marketing also stops the
// offers already handed to the webhook queue but not yet delivered
// (stopOfferDeliveriesTx); the offer engine checks consent again before it
// delivers those it still holds. It reports whether anything changed.
func recordConsentTx(ctx context.Context, tx *Tx, id int64, c lianlu.Consent, storeID int64) (bool, error) {
	var last *bool
	err := tx.queryRow(ctx, `SELECT granted FROM member_consents WHERE member_id = ? AND purpose = ? ORDER BY id DESC LIMIT 1`, id, c.Purpose).Scan(&last)
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("find consent: %w", err)
	}
	if (last != nil && *last == c.Granted) || (last == nil && !c.Granted) {
		// The answer in force, or a no where there never was a yes: there
		// is nothing to withdraw.
		return false, nil
	}
	var store any
	if storeID != 0 {
		store = storeID
	}
	if _, err := tx.exec(ctx, `INSERT INTO member_consents (member_id, purpose, granted, channel, store_id, at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, c.Purpose, c.Granted, c.Channel, store, tx.db.dialect.timeArg(tx.now)); err != nil {
		return false, fmt.Errorf("record consent: %w", err)
	}
	typ := lianlu.EventConsented
	if !c.Granted {
		typ = lianlu.EventConsentWithdrawn
		if c.Purpose == lianlu.ConsentMarketing {
			if _, err := stopOfferDeliveriesTx(ctx, tx, []int64{id}); err != nil {
				return false, err
			}
		}
	}
	_, err = appendCommandEvent(ctx, tx, typ, MemberSubject(id), lianlu.DeptStores, "",
		map[string]any{"member_id": id, "purpose": c.Purpose, "granted": c.Granted, "channel": c.Channel, "store": c.Store, "at": tx.now})
	return true, err
}

// stopOfferDeliveriesTx ends the offer deliveries to members that wait in
// the webhook queue (dead, "consent withdrawn"): a withdrawal of consent
// stops what was decided but not yet sent. It returns how many it ended.
func stopOfferDeliveriesTx(ctx context.Context, tx *Tx, members []int64) (int64, error) {
	if len(members) == 0 {
		return 0, nil
	}
	args := []any{"consent withdrawn", tx.db.dialect.timeArg(tx.now), "offer.sent"}
	for _, id := range members {
		args = append(args, MemberSubject(id))
	}
	res, err := tx.exec(ctx, `UPDATE webhook_deliveries SET status = 'dead', claim = NULL, next_attempt_at = NULL, last_error = ?, updated_at = ?
		WHERE status = 'pending' AND event_type = ? AND subject IN (`+placeholders(len(members))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("stop offer deliveries: %w", err)
	}
	return res.RowsAffected()
}

// SetConsent records a member's consent answer; see lianlu.MemberService.
func (s *MemberService) SetConsent(ctx context.Context, id int64, c lianlu.Consent) (lianlu.Member, error) {
	var errs []lianlu.FieldError
	if c.Purpose == "" {
		c.Purpose = lianlu.ConsentMarketing
	}
	if !codeRe.MatchString(c.Purpose) {
		errs = append(errs, lianlu.FieldError{Field: "purpose", Message: "1–64 letters, digits or ._-, such as marketing"})
	}
	if c.Channel == "" {
		c.Channel = "api"
	} else if !codeRe.MatchString(c.Channel) {
		errs = append(errs, lianlu.FieldError{Field: "channel", Message: "1–64 letters, digits or ._-"})
	}
	if len(errs) > 0 {
		return lianlu.Member{}, lianlu.Invalid(errs...)
	}
	var m lianlu.Member
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if m, err = FindMemberTx(ctx, tx, id); err != nil {
			return err
		}
		if m.MergedInto != 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was merged into member %d", id, m.MergedInto)
		}
		var storeID int64
		if c.Store != "" {
			if storeID, err = storeIDByCode(ctx, tx, c.Store, "store"); err != nil {
				return err
			}
		}
		changed, err := recordConsentTx(ctx, tx, id, c, storeID)
		if err != nil || !changed {
			return err
		}
		action := "member.consent_withdrawn"
		if c.Granted {
			action = "member.consented"
		}
		if err := WriteAudit(ctx, tx, action, "member", strconv.FormatInt(id, 10), lianlu.DeptStores,
			map[string]any{"purpose": c.Purpose, "channel": c.Channel}); err != nil {
			return err
		}
		m, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return m, err
}

// interactionTypes are the offline interactions store staff record.
var interactionTypes = []string{lianlu.InteractionVisit, lianlu.InteractionTried, lianlu.InteractionConsult}

// RecordInteraction records an offline interaction as an event on the
// member; a repeated external id returns the stored event.
func (s *MemberService) RecordInteraction(ctx context.Context, in lianlu.Interaction) (lianlu.Event, error) {
	var errs []lianlu.FieldError
	if !slices.Contains(interactionTypes, in.Type) {
		errs = append(errs, lianlu.FieldError{Field: "type", Message: "one of " + strings.Join(interactionTypes, ", ")})
	}
	if in.Member == nil {
		errs = append(errs, lianlu.FieldError{Field: "member", Message: "required: id, phone or email"})
	}
	if in.Store == "" {
		errs = append(errs, lianlu.FieldError{Field: "store", Message: "required"})
	}
	if in.Type == lianlu.InteractionTried && in.SKU == "" {
		errs = append(errs, lianlu.FieldError{Field: "sku", Message: "required for product.tried"})
	}
	textField(&errs, "note", in.Note, false, 1000)
	textField(&errs, "staff", in.Staff, false, 64)
	if len(in.ExternalID) > maxReferenceLength {
		errs = append(errs, lianlu.FieldError{Field: "external_id", Message: "at most 128 bytes"})
	}
	if !in.At.IsZero() && (in.At.Year() < 2000 || in.At.Year() > 9999) {
		errs = append(errs, lianlu.FieldError{Field: "at", Message: "out of range"})
	}
	if in.Channel == "" {
		in.Channel = "staff"
	} else if !codeRe.MatchString(in.Channel) {
		errs = append(errs, lianlu.FieldError{Field: "channel", Message: "1–64 letters, digits or ._-"})
	}
	if len(errs) > 0 {
		return lianlu.Event{}, lianlu.Invalid(errs...)
	}
	var out lianlu.Event
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var errs []lianlu.FieldError
		st, err := findStoreTx(ctx, tx, in.Store)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			errs = append(errs, lianlu.FieldError{Field: "store", Message: "unknown store " + in.Store})
		} else if err != nil {
			return err
		} else if in.Staff != "" && !slices.ContainsFunc(st.Staff, func(m lianlu.StaffMember) bool { return m.Code == in.Staff }) {
			errs = append(errs, lianlu.FieldError{Field: "staff", Message: "no staff member " + in.Staff + " in store " + in.Store})
		}
		if in.SKU != "" {
			if _, err := findProductBySKU(ctx, tx, in.SKU); lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
				errs = append(errs, lianlu.FieldError{Field: "sku", Message: "unknown SKU " + in.SKU})
			} else if err != nil {
				return err
			}
		}
		id, err := resolveMemberTx(ctx, tx, *in.Member, "member.")
		if fs := lianlu.ErrorFields(err); len(fs) > 0 {
			errs = append(errs, fs...)
		} else if err != nil {
			return err
		}
		if len(errs) > 0 {
			return lianlu.Invalid(errs...)
		}
		idKey := ""
		if in.ExternalID != "" {
			// Scoped by store: two stores' POS systems may reuse ids.
			idKey = in.Type + "/" + in.Store + "/" + in.ExternalID
		}
		data, _ := json.Marshal(map[string]any{"member_id": id, "store": in.Store, "staff": in.Staff, "sku": in.SKU, "note": in.Note, "channel": in.Channel})
		e := lianlu.Event{ID: idKey, Source: CommandSource, Type: in.Type, Subject: MemberSubject(id), Department: lianlu.DeptStores,
			Actor: actorOf(ctx), CorrelationID: lianlu.RequestIDFromContext(ctx), Time: in.At, Data: data}
		if e.ID == "" {
			e.ID = randomHex(16)
		}
		rs, err := AppendEvents(ctx, tx, []lianlu.Event{e})
		if err != nil {
			return err
		}
		out = rs[0].Event
		return nil
	})
	return out, err
}

// SaveTier creates or changes a member price tier, audited.
func (s *MemberService) SaveTier(ctx context.Context, t lianlu.MemberTier) (lianlu.MemberTier, error) {
	var errs []lianlu.FieldError
	if !codeRe.MatchString(t.Tier) {
		errs = append(errs, lianlu.FieldError{Field: "tier", Message: "1–64 letters, digits or ._-"})
	}
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" {
		t.Name = t.Tier
	}
	textField(&errs, "name", t.Name, true, 100)
	if t.DiscountPercent < 0 || t.DiscountPercent > 100 {
		errs = append(errs, lianlu.FieldError{Field: "discount_percent", Message: "between 0 and 100"})
	}
	if len(errs) > 0 {
		return t, lianlu.Invalid(errs...)
	}
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		t.UpdatedAt = tx.now
		if _, err := tx.exec(ctx, `INSERT INTO member_tiers (tier, name, discount_percent, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tier) DO UPDATE SET name = excluded.name, discount_percent = excluded.discount_percent, updated_at = excluded.updated_at`,
			t.Tier, t.Name, t.DiscountPercent, tx.db.dialect.timeArg(tx.now)); err != nil {
			return fmt.Errorf("save tier: %w", err)
		}
		return WriteAudit(ctx, tx, "member_tier.saved", "member_tier", t.Tier, lianlu.DeptSales, map[string]any{"discount_percent": t.DiscountPercent})
	})
	return t, err
}

// FindTiers lists the member price tiers.
func (s *MemberService) FindTiers(ctx context.Context) ([]lianlu.MemberTier, error) {
	rows, err := s.db.readQuery(ctx, `SELECT tier, name, discount_percent, updated_at FROM member_tiers ORDER BY tier`)
	if err != nil {
		return nil, fmt.Errorf("find tiers: %w", err)
	}
	defer rows.Close()
	out := []lianlu.MemberTier{}
	for rows.Next() {
		var t lianlu.MemberTier
		if err := rows.Scan(&t.Tier, &t.Name, &t.DiscountPercent, sqlTime{&t.UpdatedAt}); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// memberTierDiscountTx returns the discount percent of a member's tier (0
// without one).
func memberTierDiscountTx(ctx context.Context, tx *Tx, memberID int64) (int, error) {
	var pct int
	err := tx.queryRow(ctx, `SELECT t.discount_percent FROM members m JOIN member_tiers t ON t.tier = m.tier WHERE m.id = ?`, memberID).Scan(&pct)
	if isNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("member tier: %w", err)
	}
	return pct, nil
}
