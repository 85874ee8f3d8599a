package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/lianlu/lianlu"
)

func findMergesTx(ctx context.Context, tx *Tx, into int64) ([]lianlu.MemberMerge, error) {
	rows, err := tx.query(ctx, `SELECT id, into_member_id, from_member_id, automatic, reason, actor, moved, at FROM member_merges WHERE into_member_id = ? ORDER BY id`, into)
	if err != nil {
		return nil, fmt.Errorf("member merges: %w", err)
	}
	defer rows.Close()
	out := []lianlu.MemberMerge{}
	for rows.Next() {
		var m lianlu.MemberMerge
		var moved []byte
		if err := rows.Scan(&m.ID, &m.Into, &m.From, &m.Automatic, &m.Reason, &m.Actor, &moved, sqlTime{&m.At}); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(moved, &m.Moved); err != nil {
			return nil, fmt.Errorf("decode merge: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// mergedFromTx returns the ids of every member merged into id, directly or
// through members merged into those (merges repoint earlier ones).
func mergedFromTx(ctx context.Context, tx *Tx, id int64) ([]int64, error) {
	rows, err := tx.query(ctx, `SELECT id FROM members WHERE merged_into = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("merged members: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// memberHistoryTables are the rows that follow a member through a merge:
// table and member column. Later capabilities add theirs here.
var memberHistoryTables = [][2]string{
	{"orders", "member_id"},
	{"feedback", "member_id"},
	{"work_orders", "member_id"},
	{"member_consents", "member_id"},
	{"coupons", "member_id"},
	{"offer_sends", "member_id"},
	{"privacy_requests", "member_id"},
}

// MergeMembersTx moves every identity and all history of from into into:
// identities, orders, feedback, work orders, consents (and whatever
// memberHistoryTables lists), tags and missing traits and attribution. from
// stays as a record pointing at into. It appends member.merged (subject
// into) and closes open conflicts between the two. EINVALID when they are
// the same member or either was merged already; ENOTFOUND for an unknown one.
func MergeMembersTx(ctx context.Context, tx *Tx, into, from int64, automatic bool, reason string) (lianlu.MemberMerge, error) {
	mm := lianlu.MemberMerge{Into: into, From: from, Automatic: automatic, Reason: reason, Actor: actorOf(ctx), At: tx.now, Moved: map[string]int64{}}
	if into == from {
		return mm, lianlu.Invalid(lianlu.FieldError{Field: "from", Message: "a member cannot be merged into herself"})
	}
	a, err := FindMemberTx(ctx, tx, into)
	if err != nil {
		return mm, err
	}
	b, err := FindMemberTx(ctx, tx, from)
	if err != nil {
		return mm, err
	}
	if a.MergedInto != 0 || b.MergedInto != 0 {
		return mm, lianlu.Invalid(lianlu.FieldError{Field: "from", Message: "a member that was merged already cannot be merged again"})
	}
	d := tx.db.dialect
	count := func(name, q string, args ...any) error {
		res, err := tx.exec(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("merge %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		mm.Moved[name] = n
		return nil
	}
	// Free the unique contact columns before the identities move.
	if _, err := tx.exec(ctx, `UPDATE members SET phone = NULL, email = NULL, merged_into = ?, updated_at = ? WHERE id = ?`, into, d.timeArg(tx.now), from); err != nil {
		return mm, fmt.Errorf("merge: %w", err)
	}
	if err := count("identities", `UPDATE member_identities SET member_id = ? WHERE member_id = ?`, into, from); err != nil {
		return mm, err
	}
	for _, t := range memberHistoryTables {
		if err := count(t[0], `UPDATE `+t[0]+` SET `+t[1]+` = ? WHERE `+t[1]+` = ?`, into, from); err != nil {
			return mm, err
		}
	}
	// Members merged into from before now point at into.
	if _, err := tx.exec(ctx, `UPDATE members SET merged_into = ? WHERE merged_into = ?`, into, from); err != nil {
		return mm, fmt.Errorf("merge: %w", err)
	}
	traits := map[string]json.RawMessage{}
	json.Unmarshal(b.Traits, &traits)
	own := map[string]json.RawMessage{}
	json.Unmarshal(a.Traits, &own)
	for k, v := range own {
		traits[k] = v // the surviving member's traits win
	}
	tb, _ := json.Marshal(traits)
	tags := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Tags), b.Tags...))))
	tagsB, _ := json.Marshal(nonNilStrings(tags))
	phone, email := a.Phone, a.Email
	if phone == "" {
		phone = b.Phone
	}
	if email == "" {
		email = b.Email
	}
	if _, err := tx.exec(ctx, `UPDATE members SET phone = ?, email = ?, traits = ?, tags = ?,
		tier = COALESCE(tier, (SELECT tier FROM members WHERE id = ?)),
		home_store_id = COALESCE(home_store_id, (SELECT home_store_id FROM members WHERE id = ?)),
		joined_store_id = CASE WHEN joined_at IS NULL THEN (SELECT joined_store_id FROM members WHERE id = ?) ELSE joined_store_id END,
		joined_staff = CASE WHEN joined_at IS NULL THEN (SELECT joined_staff FROM members WHERE id = ?) ELSE joined_staff END,
		joined_at = COALESCE(joined_at, (SELECT joined_at FROM members WHERE id = ?)),
		updated_at = ? WHERE id = ?`,
		nullString(phone), nullString(email), string(tb), string(tagsB), from, from, from, from, from, d.timeArg(tx.now), into); err != nil {
		return mm, fmt.Errorf("merge profile: %w", err)
	}
	moved, _ := json.Marshal(mm.Moved)
	if err := tx.queryRow(ctx, `INSERT INTO member_merges (into_member_id, from_member_id, automatic, reason, actor, moved, at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		into, from, automatic, reason, mm.Actor, string(moved), d.timeArg(tx.now)).Scan(&mm.ID); err != nil {
		return mm, fmt.Errorf("record merge: %w", mapError(err))
	}
	lo, hi := min(into, from), max(into, from)
	if _, err := tx.exec(ctx, `UPDATE identity_conflicts SET status = ?, resolved_at = ?, resolved_by = ? WHERE member_a = ? AND member_b = ? AND status = ?`,
		lianlu.ConflictMerged, d.timeArg(tx.now), mm.Actor, lo, hi, lianlu.ConflictOpen); err != nil {
		return mm, fmt.Errorf("close conflicts: %w", err)
	}
	if _, err := appendCommandEvent(ctx, tx, "member.merged", MemberSubject(into), lianlu.DeptSales, "member-merge/"+strconv.FormatInt(mm.ID, 10), mm); err != nil {
		return mm, err
	}
	return mm, nil
}

// RecordConflictTx lists a link that identity rules may not make on their
// own: members a and b each have a verified identity. One open conflict
// is kept per pair; it returns whether this one is new.
func RecordConflictTx(ctx context.Context, tx *Tx, a, b int64, kind, value, reason string, eventSeq int64) (bool, error) {
	lo, hi := min(a, b), max(a, b)
	var seq any
	if eventSeq > 0 {
		seq = eventSeq
	}
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO identity_conflicts (member_a, member_b, kind, value, reason, event_seq, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (member_a, member_b) WHERE status = 'open' DO NOTHING RETURNING id`,
		lo, hi, kind, value, reason, seq, lianlu.ConflictOpen, tx.db.dialect.timeArg(tx.now)).Scan(&id)
	if isNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("record identity conflict: %w", err)
	}
	_, err = appendCommandEvent(ctx, tx, "member.conflict_detected", MemberSubject(lo), lianlu.DeptSales, "identity-conflict/"+strconv.FormatInt(id, 10),
		map[string]any{"id": id, "member_a": lo, "member_b": hi, "kind": kind, "reason": reason})
	return err == nil, err
}

// MergeMembers merges from into into on an operator's request, audited.
func (s *MemberService) MergeMembers(ctx context.Context, into, from int64, reason string) (lianlu.Member, error) {
	var errs []lianlu.FieldError
	textField(&errs, "reason", reason, false, 500)
	if len(errs) > 0 {
		return lianlu.Member{}, lianlu.Invalid(errs...)
	}
	var m lianlu.Member
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		mm, err := MergeMembersTx(ctx, tx, into, from, false, reason)
		if err != nil {
			return err
		}
		if err := WriteAudit(ctx, tx, "member.merged", "member", strconv.FormatInt(into, 10), lianlu.DeptSales,
			map[string]any{"from": from, "reason": reason, "moved": mm.Moved}); err != nil {
			return err
		}
		m, err = FindMemberTx(ctx, tx, into)
		return err
	})
	return m, err
}

const conflictColumns = `id, member_a, member_b, kind, value, reason, event_seq, status, created_at, resolved_at, resolved_by`

func scanConflict(r rowScanner) (lianlu.IdentityConflict, error) {
	var c lianlu.IdentityConflict
	var seq *int64
	var by *string
	err := r.Scan(&c.ID, &c.MemberA, &c.MemberB, &c.Kind, &c.Value, &c.Reason, &seq, &c.Status, sqlTime{&c.CreatedAt}, nullTime{&c.ResolvedAt}, &by)
	c.EventSeq, c.ResolvedBy = derefInt(seq), deref(by)
	return c, err
}

// FindConflicts lists identity conflicts by id.
func (s *MemberService) FindConflicts(ctx context.Context, status string, afterID int64, limit int) ([]lianlu.IdentityConflict, error) {
	q := `SELECT ` + conflictColumns + ` FROM identity_conflicts WHERE id > ?`
	args := []any{afterID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find conflicts: %w", err)
	}
	defer rows.Close()
	out := []lianlu.IdentityConflict{}
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DismissConflict closes an open conflict without merging, audited.
func (s *MemberService) DismissConflict(ctx context.Context, id int64) (lianlu.IdentityConflict, error) {
	var c lianlu.IdentityConflict
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if c, err = scanConflict(tx.queryRow(ctx, `SELECT `+conflictColumns+` FROM identity_conflicts WHERE id = ?`, id)); err != nil {
			return fmt.Errorf("identity conflict %d: %w", id, mapError(err))
		}
		if c.Status != lianlu.ConflictOpen {
			return lianlu.Errorf(lianlu.ECONFLICT, "identity conflict %d is %s", id, c.Status)
		}
		now := tx.now
		c.Status, c.ResolvedAt, c.ResolvedBy = lianlu.ConflictDismissed, &now, actorOf(ctx)
		if _, err := tx.exec(ctx, `UPDATE identity_conflicts SET status = ?, resolved_at = ?, resolved_by = ? WHERE id = ?`,
			c.Status, tx.db.dialect.timeArg(now), c.ResolvedBy, id); err != nil {
			return fmt.Errorf("dismiss conflict: %w", err)
		}
		return WriteAudit(ctx, tx, "identity_conflict.dismissed", "identity_conflict", strconv.FormatInt(id, 10), lianlu.DeptSales,
			map[string]any{"member_a": c.MemberA, "member_b": c.MemberB})
	})
	return c, err
}
