package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
)

// FeedbackService implements lianlu.FeedbackService.
type FeedbackService struct {
	db *DB
}

// NewFeedbackService returns the feedback service of db.
func NewFeedbackService(db *DB) *FeedbackService { return &FeedbackService{db: db} }

var _ lianlu.FeedbackService = (*FeedbackService)(nil)

// FeedbackSubject and BacklogSubject are event subjects.
func FeedbackSubject(id int64) string { return "feedback/" + strconv.FormatInt(id, 10) }

// BacklogSubject is the event subject of a backlog item.
func BacklogSubject(id int64) string { return "backlog/" + strconv.FormatInt(id, 10) }

const feedbackColumns = `id, rating, problem_type, text, order_id, member_id, sku, status, product_done, service_done, created_at, updated_at, closed_at`

func scanFeedback(r rowScanner) (lianlu.Feedback, error) {
	var f lianlu.Feedback
	var order, member *int64
	var sku *string
	err := r.Scan(&f.ID, &f.Rating, &f.ProblemType, &f.Text, &order, &member, &sku, &f.Status, &f.ProductDone, &f.ServiceDone,
		sqlTime{&f.CreatedAt}, sqlTime{&f.UpdatedAt}, nullTime{&f.ClosedAt})
	if order != nil {
		f.OrderID = *order
	}
	if member != nil {
		f.MemberID = *member
	}
	f.SKU = deref(sku)
	return f, err
}

// SubmitFeedback stores feedback and appends feedback.submitted.
func (s *FeedbackService) SubmitFeedback(ctx context.Context, in lianlu.FeedbackInput) (lianlu.Feedback, error) {
	if errs := validateFeedback(&in); len(errs) > 0 {
		return lianlu.Feedback{}, lianlu.Invalid(errs...)
	}
	var f lianlu.Feedback
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		f, err = submitFeedbackTx(ctx, tx, in)
		return err
	})
	return f, err
}

// validateFeedback checks and normalises a submission.
func validateFeedback(in *lianlu.FeedbackInput) []lianlu.FieldError {
	var errs []lianlu.FieldError
	if in.Rating < 1 || in.Rating > 5 {
		errs = append(errs, lianlu.FieldError{Field: "rating", Message: "an integer from 1 to 5"})
	}
	in.ProblemType = strings.ToLower(strings.TrimSpace(in.ProblemType))
	if !codeRe.MatchString(in.ProblemType) {
		errs = append(errs, lianlu.FieldError{Field: "problem_type", Message: "required: 1–64 letters, digits or ._-, such as noise or delivery_late"})
	}
	textField(&errs, "text", in.Text, false, 4000)
	return errs
}

// submitFeedbackTx stores validated feedback in the caller's transaction
// (see SubmitFeedback).
func submitFeedbackTx(ctx context.Context, tx *Tx, in lianlu.FeedbackInput) (lianlu.Feedback, error) {
	var f lianlu.Feedback
	err := func() error {
		f = lianlu.Feedback{Rating: in.Rating, ProblemType: in.ProblemType, Text: in.Text, SKU: in.SKU, Status: lianlu.FeedbackOpen,
			CreatedAt: tx.now, UpdatedAt: tx.now}
		var errs []lianlu.FieldError
		if in.OrderID != 0 {
			o, err := findOrderTx(ctx, tx, in.OrderID)
			if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
				errs = append(errs, lianlu.FieldError{Field: "order", Message: "unknown order"})
			} else if err != nil {
				return err
			} else {
				f.OrderID, f.MemberID = o.ID, o.MemberID
				if f.SKU == "" && len(o.Lines) > 0 {
					f.SKU = o.Lines[0].SKU
				}
			}
		}
		if f.SKU != "" {
			if _, err := findProductBySKU(ctx, tx, f.SKU); lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
				errs = append(errs, lianlu.FieldError{Field: "sku", Message: "unknown SKU " + f.SKU})
			} else if err != nil {
				return err
			}
		}
		if in.Member != nil {
			id, err := resolveMemberTx(ctx, tx, *in.Member, "member.")
			if fs := lianlu.ErrorFields(err); len(fs) > 0 {
				errs = append(errs, fs...)
			} else if err != nil {
				return err
			}
			f.MemberID = id
		}
		if len(errs) > 0 {
			return lianlu.Invalid(errs...)
		}
		var order, member any
		if f.OrderID != 0 {
			order = f.OrderID
		}
		if f.MemberID != 0 {
			member = f.MemberID
		}
		d := tx.db.dialect
		if err := tx.queryRow(ctx, `INSERT INTO feedback (rating, problem_type, text, order_id, member_id, sku, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			f.Rating, f.ProblemType, f.Text, order, member, nullString(f.SKU), f.Status, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&f.ID); err != nil {
			return fmt.Errorf("insert feedback: %w", err)
		}
		_, err := appendCommandEvent(ctx, tx, "feedback.submitted", FeedbackSubject(f.ID), lianlu.DeptService, FeedbackSubject(f.ID)+"/submitted", f)
		return err
	}()
	return f, err
}

func findFeedbackTx(ctx context.Context, tx *Tx, id int64) (lianlu.Feedback, error) {
	f, err := scanFeedback(tx.queryRow(ctx, `SELECT `+feedbackColumns+` FROM feedback WHERE id = ?`, id))
	if err != nil {
		return f, fmt.Errorf("feedback %d: %w", id, mapError(err))
	}
	return f, nil
}

// FindFeedbackByID returns one feedback.
func (s *FeedbackService) FindFeedbackByID(ctx context.Context, id int64) (lianlu.Feedback, error) {
	var f lianlu.Feedback
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		f, err = findFeedbackTx(ctx, tx, id)
		return err
	})
	return f, err
}

// FindFeedback lists feedback by id.
func (s *FeedbackService) FindFeedback(ctx context.Context, status string, afterID int64, limit int) ([]lianlu.Feedback, error) {
	q := `SELECT ` + feedbackColumns + ` FROM feedback WHERE id > ?`
	args := []any{afterID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find feedback: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Feedback{}
	for rows.Next() {
		f, err := scanFeedback(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// AddToBacklogTx files feedback under the backlog item of its problem type
// and SKU, creating the item or adding weight to it, in the caller's
// transaction. Adding the same feedback twice changes nothing.
func AddToBacklogTx(ctx context.Context, tx *Tx, feedbackID int64, weight int64) (lianlu.BacklogItem, error) {
	f, err := findFeedbackTx(ctx, tx, feedbackID)
	if err != nil {
		return lianlu.BacklogItem{}, err
	}
	sku := f.SKU
	if sku == "" {
		sku = "-"
	}
	if weight <= 0 {
		weight = 1
	}
	d := tx.db.dialect
	var id int64
	err = tx.queryRow(ctx, `INSERT INTO backlog_items (problem_type, sku, title, weight, status, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)
		ON CONFLICT (problem_type, sku) DO NOTHING RETURNING id`,
		f.ProblemType, sku, f.ProblemType+" · "+sku, lianlu.BacklogOpen, d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&id)
	created := err == nil
	if isNotFound(err) {
		err = tx.queryRow(ctx, `SELECT id FROM backlog_items WHERE problem_type = ? AND sku = ?`, f.ProblemType, sku).Scan(&id)
	}
	if err != nil {
		return lianlu.BacklogItem{}, fmt.Errorf("backlog item: %w", err)
	}
	res, err := tx.exec(ctx, `INSERT INTO backlog_feedback (backlog_id, feedback_id) VALUES (?, ?) ON CONFLICT (backlog_id, feedback_id) DO NOTHING`, id, feedbackID)
	if err != nil {
		return lianlu.BacklogItem{}, fmt.Errorf("link feedback: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		// A new complaint reopens a triaged item: it needs another look.
		if _, err := tx.exec(ctx, `UPDATE backlog_items SET weight = weight + ?, status = ?, updated_at = ? WHERE id = ?`,
			weight, lianlu.BacklogOpen, d.timeArg(tx.now), id); err != nil {
			return lianlu.BacklogItem{}, fmt.Errorf("weigh backlog item: %w", err)
		}
	}
	item, err := findBacklogItemTx(ctx, tx, id)
	if err != nil {
		return item, err
	}
	typ := "backlog.weighted"
	if created {
		typ = "backlog.created"
	}
	if n, _ := res.RowsAffected(); n > 0 {
		_, err = appendCommandEvent(ctx, tx, typ, BacklogSubject(id), lianlu.DeptProduct, "", map[string]any{"item": item, "feedback_id": feedbackID})
	}
	return item, err
}

func findBacklogItemTx(ctx context.Context, tx *Tx, id int64) (lianlu.BacklogItem, error) {
	var b lianlu.BacklogItem
	err := tx.queryRow(ctx, `SELECT id, problem_type, sku, title, weight, status, created_at, updated_at FROM backlog_items WHERE id = ?`, id).
		Scan(&b.ID, &b.ProblemType, &b.SKU, &b.Title, &b.Weight, &b.Status, sqlTime{&b.CreatedAt}, sqlTime{&b.UpdatedAt})
	if err != nil {
		return b, fmt.Errorf("backlog item %d: %w", id, mapError(err))
	}
	rows, err := tx.query(ctx, `SELECT feedback_id FROM backlog_feedback WHERE backlog_id = ? ORDER BY feedback_id`, id)
	if err != nil {
		return b, err
	}
	defer rows.Close()
	b.FeedbackIDs = []int64{}
	for rows.Next() {
		var fid int64
		if err := rows.Scan(&fid); err != nil {
			return b, err
		}
		b.FeedbackIDs = append(b.FeedbackIDs, fid)
	}
	return b, rows.Err()
}

// FindBacklogItemByID returns a backlog item.
func (s *FeedbackService) FindBacklogItemByID(ctx context.Context, id int64) (lianlu.BacklogItem, error) {
	var b lianlu.BacklogItem
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		b, err = findBacklogItemTx(ctx, tx, id)
		return err
	})
	return b, err
}

// FindBacklogItems lists backlog items by id.
func (s *FeedbackService) FindBacklogItems(ctx context.Context, status string, afterID int64, limit int) ([]lianlu.BacklogItem, error) {
	q := `SELECT id FROM backlog_items WHERE id > ?`
	args := []any{afterID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	out := []lianlu.BacklogItem{}
	err := s.db.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(limit)), args...)
		if err != nil {
			return fmt.Errorf("find backlog: %w", err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			b, err := findBacklogItemTx(ctx, tx, id)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}

// TriageBacklogItem marks an open item triaged.
func (s *FeedbackService) TriageBacklogItem(ctx context.Context, id int64, note string) (lianlu.BacklogItem, error) {
	var errs []lianlu.FieldError
	textField(&errs, "note", note, false, 2000)
	if len(errs) > 0 {
		return lianlu.BacklogItem{}, lianlu.Invalid(errs...)
	}
	var b lianlu.BacklogItem
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE backlog_items SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			lianlu.BacklogTriaged, tx.db.dialect.timeArg(tx.now), id, lianlu.BacklogOpen)
		if err != nil {
			return fmt.Errorf("triage: %w", err)
		}
		if b, err = findBacklogItemTx(ctx, tx, id); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "backlog item %d is %s", id, b.Status)
		}
		_, err = appendCommandEvent(ctx, tx, "backlog.triaged", BacklogSubject(id), lianlu.DeptProduct, "", map[string]any{"item": b, "note": note})
		return err
	})
	return b, err
}

// CloseFeedbackIfDoneTx records which sides of a feedback's loop are done,
// from its handoffs (product: the handoffs to product; service: those to
// service), and closes it, appending feedback.closed, when every handoff
// about it is done. It returns whether it closed the feedback now.
func CloseFeedbackIfDoneTx(ctx context.Context, tx *Tx, feedbackID int64) (bool, error) {
	f, err := findFeedbackTx(ctx, tx, feedbackID)
	if err != nil || f.Status == lianlu.FeedbackClosed {
		return false, err
	}
	hs, err := FindHandoffsBySubjectTx(ctx, tx, FeedbackSubject(feedbackID))
	if err != nil {
		return false, err
	}
	productDone, serviceDone, allDone := true, true, len(hs) > 0
	for _, h := range hs {
		done := h.Status == lianlu.HandoffDone || h.Status == lianlu.HandoffCancelled
		allDone = allDone && done
		switch h.ToDepartment {
		case lianlu.DeptProduct:
			productDone = productDone && done
		case lianlu.DeptService:
			serviceDone = serviceDone && done
		}
	}
	f.ProductDone, f.ServiceDone, f.UpdatedAt = productDone, serviceDone, tx.now
	if allDone {
		now := tx.now
		f.Status, f.ClosedAt = lianlu.FeedbackClosed, &now
	}
	d := tx.db.dialect
	if _, err := tx.exec(ctx, `UPDATE feedback SET product_done = ?, service_done = ?, status = ?, closed_at = ?, updated_at = ? WHERE id = ?`,
		f.ProductDone, f.ServiceDone, f.Status, timePtrArg(d, f.ClosedAt), d.timeArg(tx.now), f.ID); err != nil {
		return false, fmt.Errorf("update feedback: %w", err)
	}
	if !allDone {
		return false, nil
	}
	_, err = appendCommandEvent(ctx, tx, "feedback.closed", FeedbackSubject(f.ID), lianlu.DeptService, FeedbackSubject(f.ID)+"/closed", f)
	return true, err
}
