package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
)

// maxTimelineSubjects bounds the objects a timeline gathers events about:
// the member's own subjects first, then her most recent orders, work orders
// and feedback.
const maxTimelineSubjects = 1000

// timelineKind groups an event for the member timeline.
func timelineKind(typ string) string {
	switch {
	case strings.HasPrefix(typ, "segment."), strings.HasPrefix(typ, "touch."):
		return "touch"
	case typ == lianlu.InteractionVisit:
		return "visit"
	case typ == lianlu.InteractionTried || typ == lianlu.InteractionConsult:
		return "interaction"
	case strings.HasPrefix(typ, "order."):
		return "order"
	case strings.HasPrefix(typ, "workorder."):
		return "work_order"
	case strings.HasPrefix(typ, "feedback."):
		return "feedback"
	case strings.HasPrefix(typ, "offer."), strings.HasPrefix(typ, "coupon."):
		return "offer"
	case strings.HasPrefix(typ, "service_request."):
		return "service_request"
	case strings.HasPrefix(typ, "handoff."):
		return "handoff" // a flow handing her order or work on between departments
	default:
		return "member"
	}
}

// memberSubjectsTx lists the event subjects that belong to a member: hers
// and those of members merged into her, her collector identities (user/…,
// anon/…), and her orders, work orders and feedback.
func memberSubjectsTx(ctx context.Context, tx *Tx, id int64) ([]string, error) {
	subjects := []string{MemberSubject(id)}
	from, err := mergedFromTx(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	for _, f := range from {
		subjects = append(subjects, MemberSubject(f))
	}
	collect := func(q string, prefix string, args ...any) error {
		rows, err := tx.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("timeline subjects: %w", err)
		}
		defer rows.Close()
		for rows.Next() && len(subjects) < maxTimelineSubjects {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			subjects = append(subjects, prefix+v)
		}
		return rows.Err()
	}
	for _, kind := range []string{lianlu.IdentityUserID, lianlu.IdentityAnonymousID} {
		if err := collect(`SELECT value FROM member_identities WHERE member_id = ? AND kind = ? ORDER BY id`, collectorSubjectPrefixes[kind], id, kind); err != nil {
			return nil, err
		}
	}
	lim := strconv.Itoa(maxTimelineSubjects)
	for _, t := range []struct{ table, prefix string }{{"orders", "order/"}, {"work_orders", "workorder/"}, {"feedback", "feedback/"}} {
		if err := collect(`SELECT CAST(id AS TEXT) FROM `+t.table+` WHERE member_id = ? ORDER BY id DESC LIMIT `+lim, t.prefix, id); err != nil {
			return nil, err
		}
	}
	return subjects, nil
}

// Timeline returns the member's events across channels, newest first.
func (s *MemberService) Timeline(ctx context.Context, id int64, f lianlu.TimelineFilter) ([]lianlu.TimelineEntry, error) {
	out := []lianlu.TimelineEntry{}
	err := s.db.readTx(ctx, func(tx *Tx) error {
		m, err := FindMemberTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if m.MergedInto != 0 {
			id = m.MergedInto
		}
		es, err := memberEventsTx(ctx, tx, id, f.BeforeSeq, f.Limit, f.Departments)
		if err != nil {
			return err
		}
		for _, e := range es {
			out = append(out, lianlu.TimelineEntry{At: e.Time, Kind: timelineKind(e.Type), Event: e})
		}
		return nil
	})
	return out, err
}

// MemberEventsTx returns the events of a member's timeline, newest first,
// before beforeSeq (0: from the newest).
func MemberEventsTx(ctx context.Context, tx *Tx, id int64, beforeSeq int64, limit int) ([]lianlu.Event, error) {
	return memberEventsTx(ctx, tx, id, beforeSeq, limit, nil)
}

// memberEventsTx is MemberEventsTx keeping the events of departments
// only (nil: all).
func memberEventsTx(ctx context.Context, tx *Tx, id int64, beforeSeq int64, limit int, departments []string) ([]lianlu.Event, error) {
	subjects, err := memberSubjectsTx(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + eventColumns + ` FROM events WHERE subject IN (` + placeholders(len(subjects)) + `)`
	args := make([]any, 0, len(subjects)+len(departments)+1)
	for _, sj := range subjects {
		args = append(args, sj)
	}
	if departments != nil {
		if len(departments) == 0 {
			return []lianlu.Event{}, nil
		}
		q += ` AND department IN (` + placeholders(len(departments)) + `)`
		for _, d := range departments {
			args = append(args, d)
		}
	}
	if beforeSeq > 0 {
		q += ` AND seq < ?`
		args = append(args, beforeSeq)
	}
	rows, err := tx.query(ctx, q+` ORDER BY seq DESC LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	return collectEvents(rows)
}

// MemberOfEventTx returns the member an event is about (0 for none): its
// subject member/<id> (followed through merges), a collector identity
// (user/<userId>, anon/<anonymousId>), or the member of an order or
// feedback it is about.
func MemberOfEventTx(ctx context.Context, tx *Tx, e lianlu.Event) (int64, error) {
	kind, value, ok := strings.Cut(e.Subject, "/")
	if !ok {
		return 0, nil
	}
	var id *int64
	var err error
	switch kind {
	case "member":
		n, perr := strconv.ParseInt(value, 10, 64)
		if perr != nil {
			return 0, nil
		}
		var merged *int64
		err = tx.queryRow(ctx, `SELECT merged_into FROM members WHERE id = ?`, n).Scan(&merged)
		if err == nil {
			if merged != nil {
				return *merged, nil
			}
			return n, nil
		}
	case "user", "anon":
		ik, iv, ok := collectorIdentity(e.Subject)
		if !ok {
			return 0, nil
		}
		var n int64
		if n, err = MemberIDByIdentityTx(ctx, tx, ik, "", iv); err == nil {
			return n, nil
		} else if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			return 0, nil
		}
		return 0, err
	case "order", "feedback":
		n, perr := strconv.ParseInt(value, 10, 64)
		if perr != nil {
			return 0, nil
		}
		table := map[string]string{"order": "orders", "feedback": "feedback"}[kind]
		err = tx.queryRow(ctx, `SELECT member_id FROM `+table+` WHERE id = ?`, n).Scan(&id)
	default:
		return 0, nil
	}
	if isNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("member of event: %w", err)
	}
	return derefInt(id), nil
}
