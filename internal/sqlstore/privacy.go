package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sla"
)

// PrivacyFlow names the handoffs of personal-information requests: one per
// request, its step the request's kind, from the department that recorded
// it to the privacy department.
const PrivacyFlow = "privacy"

// Event types of personal-information requests and rights. Their data
// names the request, member and kind, never the personal values.
const (
	EventPrivacyReceived  = "privacy_request.received"
	EventPrivacyCompleted = "privacy_request.completed"
	EventPrivacyRefused   = "privacy_request.refused"
	EventMemberCorrected  = "member.corrected"
	EventMemberErased     = "member.erased"
	EventMemberExported   = "member.exported"
)

// PrivacyRequestSubject is the event subject of a personal-information
// request.
func PrivacyRequestSubject(id int64) string { return "privacy_request/" + strconv.FormatInt(id, 10) }

// PrivacyConfig configures the privacy service. Zero fields take the
// defaults.
type PrivacyConfig struct {
	// SLA is the time to answer a request, in calendar time from when the
	// member made it (default lianlu.DefaultPrivacySLA, 15 days).
	SLA time.Duration
}

// PrivacyService implements lianlu.PrivacyService.
type PrivacyService struct {
	db  *DB
	cfg PrivacyConfig
}

var _ lianlu.PrivacyService = (*PrivacyService)(nil)

// NewPrivacyService returns the privacy service of db.
func NewPrivacyService(db *DB, cfg PrivacyConfig) *PrivacyService {
	if cfg.SLA <= 0 {
		cfg.SLA = lianlu.DefaultPrivacySLA
	}
	return &PrivacyService{db: db, cfg: cfg}
}

const privacyRequestColumns = `id, member_id, kind, status, channel, note, department, handoff_id, received_at, due_at, recorded_by,
	created_at, updated_at, closed_at, closed_by, resolution, refusal_reason`

func scanPrivacyRequest(r rowScanner) (lianlu.PrivacyRequest, error) {
	var p lianlu.PrivacyRequest
	var handoff *int64
	var closedBy, resolution, reason *string
	err := r.Scan(&p.ID, &p.MemberID, &p.Kind, &p.Status, &p.Channel, &p.Note, &p.Department, &handoff, sqlTime{&p.ReceivedAt}, sqlTime{&p.DueAt},
		&p.RecordedBy, sqlTime{&p.CreatedAt}, sqlTime{&p.UpdatedAt}, nullTime{&p.ClosedAt}, &closedBy, &resolution, &reason)
	p.HandoffID, p.ClosedBy, p.Resolution, p.RefusalReason = derefInt(handoff), deref(closedBy), deref(resolution), deref(reason)
	return p, err
}

func findPrivacyRequestTx(ctx context.Context, tx *Tx, id int64) (lianlu.PrivacyRequest, error) {
	p, err := scanPrivacyRequest(tx.queryRow(ctx, `SELECT `+privacyRequestColumns+` FROM privacy_requests WHERE id = ?`, id))
	if err != nil {
		return p, fmt.Errorf("privacy request %d: %w", id, mapError(err))
	}
	return p, nil
}

// maxPrivacyNote bounds the notes of requests and their answers.
const maxPrivacyNote = 2000

// RecordPrivacyRequest records a member's request and opens its handoff;
// see lianlu.PrivacyService.
func (s *PrivacyService) RecordPrivacyRequest(ctx context.Context, memberID int64, in lianlu.PrivacyRequestInput) (lianlu.PrivacyRequest, error) {
	var errs []lianlu.FieldError
	if !slices.Contains(lianlu.PrivacyRequestKinds, in.Kind) {
		errs = append(errs, lianlu.FieldError{Field: "kind", Message: "one of " + strings.Join(lianlu.PrivacyRequestKinds, ", ")})
	}
	if in.Channel == "" {
		in.Channel = "api"
	} else if !codeRe.MatchString(in.Channel) {
		errs = append(errs, lianlu.FieldError{Field: "channel", Message: "1–64 letters, digits or ._-, such as phone or store"})
	}
	textField(&errs, "note", in.Note, false, maxPrivacyNote)
	now := s.db.Now()
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	} else if in.ReceivedAt.After(now.Add(time.Minute)) || in.ReceivedAt.Year() < 2000 {
		errs = append(errs, lianlu.FieldError{Field: "received_at", Message: "when she made the request: not in the future"})
	}
	if len(errs) > 0 {
		return lianlu.PrivacyRequest{}, lianlu.Invalid(errs...)
	}
	in.ReceivedAt = in.ReceivedAt.UTC().Truncate(time.Microsecond)
	var out lianlu.PrivacyRequest
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		m, err := FindMemberTx(ctx, tx, memberID)
		if err != nil {
			return err
		}
		if m.MergedInto != 0 {
			// The request is hers: it follows her to the member she was
			// merged into.
			memberID = m.MergedInto
		}
		d := tx.db.dialect
		due := in.ReceivedAt.Add(s.cfg.SLA)
		var id int64
		if err := tx.queryRow(ctx, `INSERT INTO privacy_requests (member_id, kind, status, channel, note, department, received_at, due_at, recorded_by,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			memberID, in.Kind, lianlu.PrivacyOpen, in.Channel, in.Note, lianlu.PrivacyDepartment, d.timeArg(in.ReceivedAt), d.timeArg(due), actorOf(ctx),
			d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&id); err != nil {
			return fmt.Errorf("record privacy request: %w", mapError(err))
		}
		subject := PrivacyRequestSubject(id)
		e, err := appendCommandEvent(ctx, tx, EventPrivacyReceived, subject, lianlu.PrivacyDepartment, subject+"/received",
			map[string]any{"request_id": id, "member_id": memberID, "kind": in.Kind, "channel": in.Channel, "received_at": in.ReceivedAt, "due_at": due})
		if err != nil {
			return err
		}
		from := lianlu.DeptAdmin
		if p, ok := lianlu.PrincipalFromContext(ctx); ok && p.Department != "" {
			from = p.Department
		}
		// The handoff is the request in the privacy department's queue: it
		// is there (delivered) as soon as it is recorded, and due after
		// the SLA from when she asked, so that a request recorded late
		// shows as upstream delay.
		h := lianlu.Handoff{Flow: PrivacyFlow, FlowVersion: 1, Step: in.Kind, TriggerSeq: e.Seq, Subject: subject, FromDepartment: from,
			ToDepartment: lianlu.PrivacyDepartment, Action: "privacy.respond", Completes: []string{EventPrivacyCompleted, EventPrivacyRefused}, Accepts: []string{},
			Status: lianlu.HandoffOpen, EmittedAt: in.ReceivedAt, RecordedAt: tx.now}
		if inserted, err := InsertHandoffTx(ctx, tx, &h); err != nil {
			return err
		} else if !inserted {
			return lianlu.Errorf(lianlu.ECONFLICT, "privacy request %d has a handoff already", id)
		}
		delivered := tx.now
		h.DeliveredAt, h.DueAt = &delivered, &due
		if err := UpdateHandoffTx(ctx, tx, h); err != nil {
			return err
		}
		if err := AppendHandoffEventTx(ctx, tx, "handoff.opened", h, "system:privacy"); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE privacy_requests SET handoff_id = ? WHERE id = ?`, h.ID, id); err != nil {
			return fmt.Errorf("record privacy request: %w", err)
		}
		if err := WriteAudit(ctx, tx, "privacy_request.recorded", "member", strconv.FormatInt(memberID, 10), lianlu.PrivacyDepartment,
			map[string]any{"request_id": id, "kind": in.Kind, "channel": in.Channel}); err != nil {
			return err
		}
		if out, err = findPrivacyRequestTx(ctx, tx, id); err != nil {
			return err
		}
		if in.Kind != lianlu.PrivacyWithdrawConsent {
			return nil
		}
		// A withdrawal is honoured at once (art. 15): nothing is left to
		// decide, so the request is completed with it.
		purposes, err := withdrawAllConsentsTx(ctx, tx, memberID, in.Channel)
		if err != nil {
			return err
		}
		resolution := "consent withdrawn"
		if len(purposes) > 0 {
			resolution += ": " + strings.Join(purposes, ", ")
		} else {
			resolution += " (none was in force)"
		}
		out, err = s.closeTx(ctx, tx, out, lianlu.PrivacyCompleted, resolution, "")
		return err
	})
	return out, err
}

// withdrawAllConsentsTx withdraws every purpose a member consented to and
// returns them.
func withdrawAllConsentsTx(ctx context.Context, tx *Tx, memberID int64, channel string) ([]string, error) {
	m, err := FindMemberTx(ctx, tx, memberID)
	if err != nil {
		return nil, err
	}
	var purposes []string
	for _, c := range m.Consents {
		if !slices.Contains(purposes, c.Purpose) && m.HasConsent(c.Purpose) {
			purposes = append(purposes, c.Purpose)
		}
	}
	for _, p := range purposes {
		if _, err := recordConsentTx(ctx, tx, memberID, lianlu.Consent{Purpose: p, Granted: false, Channel: channel}, 0); err != nil {
			return nil, err
		}
	}
	return purposes, nil
}

// FindPrivacyRequestByID returns a request.
func (s *PrivacyService) FindPrivacyRequestByID(ctx context.Context, id int64) (lianlu.PrivacyRequest, error) {
	var p lianlu.PrivacyRequest
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		p, err = findPrivacyRequestTx(ctx, tx, id)
		return err
	})
	return p, err
}

// FindPrivacyRequests lists requests by id.
func (s *PrivacyService) FindPrivacyRequests(ctx context.Context, f lianlu.PrivacyRequestFilter) ([]lianlu.PrivacyRequest, error) {
	q := `SELECT ` + privacyRequestColumns + ` FROM privacy_requests WHERE id > ?`
	args := []any{f.AfterID}
	if f.MemberID != 0 {
		q += ` AND member_id = ?`
		args = append(args, f.MemberID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find privacy requests: %w", err)
	}
	defer rows.Close()
	out := []lianlu.PrivacyRequest{}
	for rows.Next() {
		p, err := scanPrivacyRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CompletePrivacyRequest closes an open request as done.
func (s *PrivacyService) CompletePrivacyRequest(ctx context.Context, id int64, resolution string) (lianlu.PrivacyRequest, error) {
	resolution = strings.TrimSpace(resolution)
	var errs []lianlu.FieldError
	textField(&errs, "resolution", resolution, false, maxPrivacyNote)
	if len(errs) > 0 {
		return lianlu.PrivacyRequest{}, lianlu.Invalid(errs...)
	}
	return s.close(ctx, id, lianlu.PrivacyCompleted, resolution, "")
}

// RefusePrivacyRequest closes an open request as refused, with its reason.
func (s *PrivacyService) RefusePrivacyRequest(ctx context.Context, id int64, reason string) (lianlu.PrivacyRequest, error) {
	reason = strings.TrimSpace(reason)
	var errs []lianlu.FieldError
	textField(&errs, "reason", reason, true, maxPrivacyNote)
	if len(errs) > 0 {
		if reason == "" {
			errs[0].Message = "required: a refusal tells her why (PIPL art. 50)"
		}
		return lianlu.PrivacyRequest{}, lianlu.Invalid(errs...)
	}
	return s.close(ctx, id, lianlu.PrivacyRefused, "", reason)
}

func (s *PrivacyService) close(ctx context.Context, id int64, status, resolution, reason string) (lianlu.PrivacyRequest, error) {
	var out lianlu.PrivacyRequest
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		p, err := findPrivacyRequestTx(ctx, tx, id)
		if err != nil {
			return err
		}
		out, err = s.closeTx(ctx, tx, p, status, resolution, reason)
		return err
	})
	return out, err
}

// closeTx completes or refuses an open request, appends its event and
// completes its handoff (breached when it is done after its deadline).
func (s *PrivacyService) closeTx(ctx context.Context, tx *Tx, p lianlu.PrivacyRequest, status, resolution, reason string) (lianlu.PrivacyRequest, error) {
	if p.Status != lianlu.PrivacyOpen {
		return p, lianlu.Errorf(lianlu.ECONFLICT, "privacy request %d is %s", p.ID, p.Status)
	}
	d := tx.db.dialect
	res, err := tx.exec(ctx, `UPDATE privacy_requests SET status = ?, closed_at = ?, closed_by = ?, resolution = ?, refusal_reason = ?, updated_at = ?
		WHERE id = ? AND status = ?`, status, d.timeArg(tx.now), actorOf(ctx), nullString(resolution), nullString(reason), d.timeArg(tx.now), p.ID, lianlu.PrivacyOpen)
	if err != nil {
		return p, fmt.Errorf("close privacy request: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return p, lianlu.Errorf(lianlu.ECONFLICT, "privacy request %d is no longer open", p.ID)
	}
	typ := EventPrivacyCompleted
	if status == lianlu.PrivacyRefused {
		typ = EventPrivacyRefused
	}
	subject := PrivacyRequestSubject(p.ID)
	if _, err := appendCommandEvent(ctx, tx, typ, subject, p.Department, subject+"/closed",
		map[string]any{"request_id": p.ID, "member_id": p.MemberID, "kind": p.Kind, "status": status}); err != nil {
		return p, err
	}
	if p.HandoffID != 0 {
		if err := completePrivacyHandoffTx(ctx, tx, p.HandoffID); err != nil {
			return p, err
		}
	}
	if err := WriteAudit(ctx, tx, "privacy_request."+status, "member", strconv.FormatInt(p.MemberID, 10), p.Department,
		map[string]any{"request_id": p.ID, "kind": p.Kind}); err != nil {
		return p, err
	}
	return findPrivacyRequestTx(ctx, tx, p.ID)
}

// completePrivacyHandoffTx marks a request's handoff done now, judging its
// deadline as the flow runner does for its own handoffs.
func completePrivacyHandoffTx(ctx context.Context, tx *Tx, id int64) error {
	h, err := FindHandoffByIDTx(ctx, tx, id)
	if err != nil {
		return err
	}
	if h.Status != lianlu.HandoffOpen && h.Status != lianlu.HandoffPending {
		return nil
	}
	now := tx.now
	h.Status, h.DoneAt = lianlu.HandoffDone, &now
	if h.AcceptedAt == nil {
		h.AcceptedAt = &now
	}
	if h.DeliveredAt == nil {
		h.DeliveredAt = &now
	}
	if h.BreachedAt == nil {
		c := sla.Clocks{EmittedAt: h.EmittedAt, RecordedAt: h.RecordedAt, DeliveredAt: *h.DeliveredAt, AcceptedAt: h.AcceptedAt, DoneAt: h.DoneAt, DueAt: h.DueAt}
		if breached, b := sla.Evaluate(c, h.FromDepartment, h.ToDepartment, now, sla.Policy{}); breached {
			at := b.At
			h.BreachedAt, h.BreachCause, h.ResponsibleDepartment = &at, b.Cause, b.ResponsibleDepartment
			if err := AppendHandoffEventTx(ctx, tx, "handoff.breached", h, "system:privacy"); err != nil {
				return err
			}
		}
	}
	if err := UpdateHandoffTx(ctx, tx, h); err != nil {
		return err
	}
	return AppendHandoffEventTx(ctx, tx, "handoff.completed", h, "system:privacy")
}

// idList returns "?, ?, …" and the arguments of ids.
func idList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return placeholders(len(ids)), args
}

// memberRecords are what a member's personal information is attached to:
// her record and those merged into her, her orders, work orders, feedback,
// fulfillments, requests and collector identities.
type memberRecords struct {
	members      []int64
	orders       []int64
	externalIDs  []string // of her orders
	workOrders   []int64
	feedback     []int64
	fulfillments []int64
	requests     []int64
	identities   []lianlu.Identity
}

// int64Column collects one integer column.
func int64Column(ctx context.Context, tx *Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
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

// memberRecordsTx gathers what belongs to member id (not merged away).
func memberRecordsTx(ctx context.Context, tx *Tx, id int64) (memberRecords, error) {
	r := memberRecords{members: []int64{id}}
	from, err := mergedFromTx(ctx, tx, id)
	if err != nil {
		return r, err
	}
	r.members = append(r.members, from...)
	in, args := idList(r.members)
	rows, err := tx.query(ctx, `SELECT id, external_id FROM orders WHERE member_id IN (`+in+`) ORDER BY id`, args...)
	if err != nil {
		return r, fmt.Errorf("member orders: %w", err)
	}
	for rows.Next() {
		var oid int64
		var ext string
		if err := rows.Scan(&oid, &ext); err != nil {
			rows.Close()
			return r, err
		}
		r.orders, r.externalIDs = append(r.orders, oid), append(r.externalIDs, ext)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	orderSubjects := []any{}
	for _, o := range r.orders {
		orderSubjects = append(orderSubjects, OrderSubject(o))
	}
	wq, wargs := `SELECT id FROM work_orders WHERE member_id IN (`+in+`)`, slices.Clone(args)
	fq, fargs := `SELECT id FROM feedback WHERE member_id IN (`+in+`)`, slices.Clone(args)
	if len(r.orders) > 0 {
		// Work orders and feedback about her orders are hers, whoever
		// they were recorded for.
		oin, oargs := idList(r.orders)
		wq += ` OR subject IN (` + placeholders(len(orderSubjects)) + `)`
		wargs = append(wargs, orderSubjects...)
		fq += ` OR order_id IN (` + oin + `)`
		fargs = append(fargs, oargs...)
		if r.fulfillments, err = int64Column(ctx, tx, `SELECT id FROM fulfillments WHERE order_id IN (`+oin+`) ORDER BY id`, oargs...); err != nil {
			return r, fmt.Errorf("member fulfillments: %w", err)
		}
	}
	if r.workOrders, err = int64Column(ctx, tx, wq+` ORDER BY id`, wargs...); err != nil {
		return r, fmt.Errorf("member work orders: %w", err)
	}
	if r.feedback, err = int64Column(ctx, tx, fq+` ORDER BY id`, fargs...); err != nil {
		return r, fmt.Errorf("member feedback: %w", err)
	}
	if r.requests, err = int64Column(ctx, tx, `SELECT id FROM privacy_requests WHERE member_id IN (`+in+`) ORDER BY id`, args...); err != nil {
		return r, fmt.Errorf("member privacy requests: %w", err)
	}
	rows, err = tx.query(ctx, `SELECT kind, namespace, value, verified, source, created_at FROM member_identities WHERE member_id IN (`+in+`) ORDER BY id`, args...)
	if err != nil {
		return r, fmt.Errorf("member identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i lianlu.Identity
		if err := rows.Scan(&i.Kind, &i.Namespace, &i.Value, &i.Verified, &i.Source, sqlTime{&i.CreatedAt}); err != nil {
			return r, err
		}
		r.identities = append(r.identities, i)
	}
	return r, rows.Err()
}

// subjects are the event subjects of her records.
func (r memberRecords) subjects() []string {
	var out []string
	for _, id := range r.members {
		out = append(out, MemberSubject(id))
	}
	for _, i := range r.identities {
		if p, ok := collectorSubjectPrefixes[i.Kind]; ok && i.Namespace == "" {
			out = append(out, p+i.Value)
		}
	}
	for _, id := range r.orders {
		out = append(out, OrderSubject(id))
	}
	for _, id := range r.fulfillments {
		out = append(out, FulfillmentSubject(id))
	}
	for _, id := range r.workOrders {
		out = append(out, "workorder/"+strconv.FormatInt(id, 10))
	}
	for _, id := range r.feedback {
		out = append(out, FeedbackSubject(id))
	}
	for _, id := range r.requests {
		out = append(out, PrivacyRequestSubject(id))
	}
	return out
}

// subjectChunk bounds the subjects of one IN list.
const subjectChunk = 500

// eventsAboutTx returns the events whose subject is one of subjects, in
// seq order.
func eventsAboutTx(ctx context.Context, tx *Tx, subjects []string) ([]lianlu.Event, error) {
	var out []lianlu.Event
	for start := 0; start < len(subjects); start += subjectChunk {
		chunk := subjects[start:min(start+subjectChunk, len(subjects))]
		args := make([]any, len(chunk))
		for i, s := range chunk {
			args[i] = s
		}
		rows, err := tx.query(ctx, `SELECT `+eventColumns+` FROM events WHERE subject IN (`+placeholders(len(chunk))+`) ORDER BY seq`, args...)
		if err != nil {
			return nil, fmt.Errorf("events about member: %w", err)
		}
		es, err := collectEvents(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b lianlu.Event) int { return int(a.Seq - b.Seq) })
	return out, nil
}

// ExportMember returns everything held about a member and audits it.
func (s *PrivacyService) ExportMember(ctx context.Context, id int64) (lianlu.MemberExport, error) {
	x := lianlu.MemberExport{MergedMembers: []lianlu.Member{}, Orders: []lianlu.Order{}, Fulfillments: []lianlu.Fulfillment{}, WorkOrders: []lianlu.WorkOrder{},
		ServiceRequests: []lianlu.WorkOrder{}, Feedback: []lianlu.Feedback{}, OfferSends: []lianlu.OfferSend{}, Coupons: []lianlu.Coupon{},
		Interactions: []lianlu.Event{}, PrivacyRequests: []lianlu.PrivacyRequest{}, Events: []lianlu.Event{}}
	err := s.db.readTx(ctx, func(tx *Tx) error {
		x.GeneratedAt = tx.now
		m, err := FindMemberTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if m.MergedInto != 0 {
			// Her history lives with the member she was merged into.
			if m, err = FindMemberTx(ctx, tx, m.MergedInto); err != nil {
				return err
			}
		}
		x.Member = m
		r, err := memberRecordsTx(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		for _, from := range r.members[1:] {
			fm, err := FindMemberTx(ctx, tx, from)
			if err != nil {
				return err
			}
			x.MergedMembers = append(x.MergedMembers, fm)
		}
		for _, oid := range r.orders {
			o, err := findOrderTx(ctx, tx, oid)
			if err != nil {
				return err
			}
			x.Orders = append(x.Orders, o)
		}
		for _, fid := range r.fulfillments {
			f, err := findFulfillmentTx(ctx, tx, `f.id = ?`, fid)
			if err != nil {
				return err
			}
			x.Fulfillments = append(x.Fulfillments, f)
		}
		for _, wid := range r.workOrders {
			w, err := findWorkOrder(ctx, tx, wid)
			if err != nil {
				return err
			}
			x.WorkOrders = append(x.WorkOrders, w)
			if w.Kind == lianlu.WorkOrderOnSite {
				x.ServiceRequests = append(x.ServiceRequests, w)
			}
		}
		for _, fid := range r.feedback {
			f, err := findFeedbackTx(ctx, tx, fid)
			if err != nil {
				return err
			}
			x.Feedback = append(x.Feedback, f)
		}
		in, args := idList(r.members)
		rows, err := tx.query(ctx, `SELECT `+offerSendColumns+` FROM offer_sends WHERE member_id IN (`+in+`) ORDER BY id`, args...)
		if err != nil {
			return fmt.Errorf("export offer sends: %w", err)
		}
		for rows.Next() {
			sd, err := scanOfferSend(rows)
			if err != nil {
				rows.Close()
				return err
			}
			x.OfferSends = append(x.OfferSends, sd.OfferSend)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.query(ctx, `SELECT `+couponColumns+` FROM coupons WHERE member_id IN (`+in+`) ORDER BY id`, args...)
		if err != nil {
			return fmt.Errorf("export coupons: %w", err)
		}
		for rows.Next() {
			c, err := scanCoupon(rows)
			if err != nil {
				rows.Close()
				return err
			}
			x.Coupons = append(x.Coupons, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, rid := range r.requests {
			p, err := findPrivacyRequestTx(ctx, tx, rid)
			if err != nil {
				return err
			}
			x.PrivacyRequests = append(x.PrivacyRequests, p)
		}
		es, err := eventsAboutTx(ctx, tx, r.subjects())
		if err != nil {
			return err
		}
		for _, e := range es {
			x.Events = append(x.Events, e)
			switch e.Type {
			case lianlu.InteractionVisit, lianlu.InteractionTried, lianlu.InteractionConsult:
				x.Interactions = append(x.Interactions, e)
			}
		}
		return nil
	})
	if err != nil {
		return x, err
	}
	// Handing her data out is itself recorded (who, when, how much).
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		counts := map[string]any{"orders": len(x.Orders), "work_orders": len(x.WorkOrders), "feedback": len(x.Feedback), "events": len(x.Events)}
		if _, err := appendCommandEvent(ctx, tx, EventMemberExported, MemberSubject(x.Member.ID), lianlu.PrivacyDepartment, "",
			map[string]any{"member_id": x.Member.ID, "counts": counts}); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, "member.exported", "member", strconv.FormatInt(x.Member.ID, 10), lianlu.PrivacyDepartment, counts)
	})
	return x, err
}

// CorrectMember corrects a member's personal fields; see
// lianlu.PrivacyService.
func (s *PrivacyService) CorrectMember(ctx context.Context, id int64, c lianlu.MemberCorrection) (lianlu.Member, error) {
	var errs []lianlu.FieldError
	var phone, email string
	if c.Phone != nil {
		var err error
		if phone, err = NormalizePhone(strings.TrimSpace(*c.Phone), s.db.phoneRegion); err != nil {
			errs = append(errs, lianlu.FieldError{Field: "phone", Message: "not a valid phone number"})
		}
	}
	if c.Email != nil {
		var err error
		if email, err = NormalizeEmail(*c.Email); err != nil {
			errs = append(errs, lianlu.FieldError{Field: "email", Message: "not a valid email address"})
		}
	}
	if c.Name != nil {
		textField(&errs, "name", strings.TrimSpace(*c.Name), true, 100)
	}
	var patch map[string]json.RawMessage
	if c.Traits != nil {
		if len(c.Traits) > maxTraitsBytes || json.Unmarshal(c.Traits, &patch) != nil || patch == nil {
			errs = append(errs, lianlu.FieldError{Field: "traits", Message: "a JSON object of at most 16 KiB"})
		}
	}
	if c.Phone == nil && c.Email == nil && c.Name == nil && c.Traits == nil {
		errs = append(errs, lianlu.FieldError{Field: "phone", Message: "give what to correct: phone, email, name or traits"})
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
		switch {
		case m.MergedInto != 0:
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was merged into member %d; correct that one", id, m.MergedInto)
		case m.ErasedAt != nil:
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was erased", id)
		}
		var fields []string
		d := tx.db.dialect
		contact := func(kind, old, v string) error {
			if v == old {
				return nil
			}
			if holder, err := MemberIDByIdentityTx(ctx, tx, kind, "", v); err == nil && holder != id {
				return &lianlu.Error{Code: lianlu.ECONFLICT, Message: fmt.Sprintf("member %d holds this %s; merge the two members instead", holder, kind),
					Fields: []lianlu.FieldError{{Field: kind, Message: "held by another member"}}}
			} else if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return err
			}
			if old != "" {
				// The wrong value no longer finds her.
				if _, err := tx.exec(ctx, `DELETE FROM member_identities WHERE member_id = ? AND kind = ? AND namespace = '' AND value = ?`, id, kind, old); err != nil {
					return fmt.Errorf("correct %s: %w", kind, err)
				}
			}
			if _, err := tx.exec(ctx, `UPDATE members SET `+kind+` = ?, updated_at = ? WHERE id = ?`, v, d.timeArg(tx.now), id); err != nil {
				return fmt.Errorf("correct %s: %w", kind, mapError(err))
			}
			if _, err := AddIdentityTx(ctx, tx, id, lianlu.Identity{Kind: kind, Value: v, Verified: true, Source: actorOf(ctx)}); err != nil {
				return err
			}
			fields = append(fields, kind)
			return nil
		}
		if c.Phone != nil {
			if err := contact(lianlu.IdentityPhone, m.Phone, phone); err != nil {
				return err
			}
		}
		if c.Email != nil {
			if err := contact(lianlu.IdentityEmail, m.Email, email); err != nil {
				return err
			}
		}
		if c.Name != nil || patch != nil {
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
				fields = append(fields, "traits."+k)
			}
			if c.Name != nil {
				traits["name"], _ = json.Marshal(strings.TrimSpace(*c.Name))
				fields = append(fields, "name")
			}
			tb, _ := json.Marshal(traits)
			if len(tb) > maxTraitsBytes {
				return lianlu.Invalid(lianlu.FieldError{Field: "traits", Message: "traits would exceed 16 KiB"})
			}
			if _, err := tx.exec(ctx, `UPDATE members SET traits = ?, updated_at = ? WHERE id = ?`, string(tb), d.timeArg(tx.now), id); err != nil {
				return fmt.Errorf("correct traits: %w", err)
			}
		}
		slices.Sort(fields)
		fields = slices.Compact(fields)
		if len(fields) > 0 {
			// The event and the audit name the fields, not their values:
			// the log keeps no copy of the personal data.
			if _, err := appendCommandEvent(ctx, tx, EventMemberCorrected, MemberSubject(id), lianlu.DeptSales, "",
				map[string]any{"member_id": id, "fields": fields}); err != nil {
				return err
			}
			if err := WriteAudit(ctx, tx, "member.corrected", "member", strconv.FormatInt(id, 10), lianlu.PrivacyDepartment,
				map[string]any{"fields": fields}); err != nil {
				return err
			}
		}
		m, err = FindMemberTx(ctx, tx, id)
		return err
	})
	return m, err
}
