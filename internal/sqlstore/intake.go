package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// IntakeService stores events sent by other systems (POST /api/v1/events,
// `lianlu import`) and maps the standard business events to Lianlu's
// commands in the same transaction.
type IntakeService struct {
	db *DB
}

// NewIntakeService returns the intake service of db.
func NewIntakeService(db *DB) *IntakeService { return &IntakeService{db: db} }

// IngestResult reports one ingested event: the append result and, for a
// newly stored business event, the objects its command touched
// ("order/12", "feedback/3", "stock/SKU@WH1").
type IngestResult struct {
	lianlu.AppendResult
	Effects []string
}

// Ingest appends events in one transaction and runs the command of each
// newly stored business event (collect.IsBusinessType) in it: a shop
// order or POS sale is placed as an order (lianlu.OrderService.PlaceOrder,
// idempotent by external id), an inventory snapshot sets on-hand stock by
// adjustments, a survey with a low rating or a problem type becomes
// feedback. Because the command commits with the event, and a resent event
// (same source and id) is a duplicate whose command is not run again, each
// business event acts exactly once; the log can be replayed by any
// consumer without acting again.
//
// The data of business events must have passed
// collect.ValidateBusinessEvent. A command's problem fails the whole call
// and stores nothing: EINVALID (unknown SKU or store, with the field named
// below "data" and prefixed "[i]." in a batch), ECONFLICT (a count below
// what is reserved), EFORBIDDEN (a snapshot of another department's
// location).
func (s *IntakeService) Ingest(ctx context.Context, events []lianlu.Event) ([]IngestResult, error) {
	var out []IngestResult
	attempt := func() error {
		return s.db.WithTx(ctx, func(tx *Tx) error {
			var err error
			out, err = IngestTx(ctx, tx, events)
			return err
		})
	}
	err := attempt()
	if lianlu.ErrorCode(err) == lianlu.ECONFLICT && strings.Contains(lianlu.ErrorMessage(err), "already exists") {
		// A concurrent request placed the same order (PostgreSQL); now it
		// is found by its external id.
		err = attempt()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// IngestTx is Ingest in the caller's transaction.
//
// The events come from outside Lianlu and must have passed the intake's
// checks (httpapi.CheckIntake); IngestTx checks again what the mapping
// rests on, so that no other path maps a fact it should not: a standard
// business event without a department (an admin's, sent on behalf of
// nobody in particular) gets the department whose fact it is (for a stock
// count, the counted location's), and one whose department is not among
// lianlu.BusinessEventDepartments is refused (EFORBIDDEN naming
// "department"), as is an event in the command or collector namespaces
// (lianlu.OutsideEventViolation).
func IngestTx(ctx context.Context, tx *Tx, events []lianlu.Event) ([]IngestResult, error) {
	for i := range events {
		e := &events[i]
		prefix := ""
		if len(events) > 1 {
			prefix = "[" + strconv.Itoa(i) + "]."
		}
		if field, rule, msg := lianlu.OutsideEventViolation(*e); field != "" {
			return nil, &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: prefix + field + ": " + rule + ": " + msg,
				Fields: []lianlu.FieldError{{Field: prefix + field, Message: rule + ": " + msg}}}
		}
		owners := lianlu.BusinessEventDepartments(e.Type)
		if owners == nil {
			continue
		}
		if e.Department == "" {
			dept, err := businessDepartment(ctx, tx, *e, owners)
			if err != nil {
				return nil, err
			}
			e.Department = dept
		}
		if !slices.Contains(owners, e.Department) {
			msg := e.Type + " events are the facts of " + strings.Join(owners, " or ") + ", not of " + e.Department
			return nil, &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: prefix + "department: " + msg,
				Fields: []lianlu.FieldError{{Field: prefix + "department", Message: msg}}}
		}
	}
	res, err := AppendEvents(ctx, tx, events)
	if err != nil {
		return nil, err
	}
	out := make([]IngestResult, len(res))
	for i, r := range res {
		out[i].AppendResult = r
		if r.Duplicate || !collect.IsBusinessType(r.Event.Type) {
			continue
		}
		effects, err := applyBusinessEvent(ctx, tx, r.Event)
		if err != nil {
			if len(res) > 1 {
				err = prefixFields(err, "["+strconv.Itoa(i)+"].")
			}
			return nil, err
		}
		out[i].Effects = effects
	}
	return out, nil
}

// prefixFields returns err with its field names prefixed.
func prefixFields(err error, prefix string) error {
	var e *lianlu.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	fs := make([]lianlu.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		fs[i] = lianlu.FieldError{Field: prefix + f.Field, Message: f.Message}
	}
	return &lianlu.Error{Code: e.Code, Message: e.Message, Fields: fs}
}

// renameFields maps a command's field names to the event data's:
// renames holds exact names and prefixes (ending in "." or "["); the
// rest get "data." in front.
func renameFields(err error, renames map[string]string) error {
	var e *lianlu.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	fs := make([]lianlu.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		name := f.Field
		if r, ok := renames[name]; ok {
			name = r
		}
		fs[i] = lianlu.FieldError{Field: "data." + name, Message: f.Message}
	}
	msg := e.Message
	if len(fs) == 1 {
		msg = fs[0].Field + ": " + fs[0].Message
	}
	return &lianlu.Error{Code: e.Code, Message: msg, Fields: fs}
}

// businessDepartment returns the department whose fact a business event
// sent without one is: for a stock count the counted location's, else the
// type's first sender.
func businessDepartment(ctx context.Context, tx *Tx, e lianlu.Event, owners []string) (string, error) {
	if e.Type == collect.TypeInventorySnapshot {
		var snap collect.InventorySnapshot
		if json.Unmarshal(e.Data, &snap) == nil && snap.Location != "" {
			loc, err := findLocationByCode(ctx, tx, snap.Location)
			if err == nil {
				return LocationDepartment(loc.Kind), nil
			} else if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return "", err
			}
		}
	}
	return owners[0], nil
}

// applyBusinessEvent runs the command of one business event in tx.
func applyBusinessEvent(ctx context.Context, tx *Tx, e lianlu.Event) ([]string, error) {
	switch e.Type {
	case collect.TypeShopOrder:
		var o collect.ShopOrder
		if err := collect.DecodeBusinessData(e, &o); err != nil {
			return nil, err
		}
		return placeFromEvent(ctx, tx, o.Placement(e.Time), map[string]string{"external_id": "order_id"})
	case collect.TypePOSSale:
		var sale collect.POSSale
		if err := collect.DecodeBusinessData(e, &sale); err != nil {
			return nil, err
		}
		return placeFromEvent(ctx, tx, sale.Placement(e.Time), map[string]string{"external_id": "sale_id", "placed_at": "sold_at"})
	case collect.TypeInventorySnapshot:
		var snap collect.InventorySnapshot
		if err := collect.DecodeBusinessData(e, &snap); err != nil {
			return nil, err
		}
		return applySnapshot(ctx, tx, e, snap)
	case collect.TypeSurvey:
		var sv collect.Survey
		if err := collect.DecodeBusinessData(e, &sv); err != nil {
			return nil, err
		}
		return applySurvey(ctx, tx, sv)
	}
	return nil, nil
}

func placeFromEvent(ctx context.Context, tx *Tx, p lianlu.OrderPlacement, renames map[string]string) ([]string, error) {
	if errs := validatePlacement(&p); len(errs) > 0 {
		return nil, renameFields(lianlu.Invalid(errs...), renames)
	}
	o, _, err := placeOrderTx(ctx, tx, p)
	if err != nil {
		return nil, renameFields(err, renames)
	}
	return []string{OrderSubject(o.ID)}, nil
}

// applySnapshot sets each counted SKU's on-hand stock to its count: an
// adjustment (reason count) of the difference, none when there is none.
func applySnapshot(ctx context.Context, tx *Tx, e lianlu.Event, snap collect.InventorySnapshot) ([]string, error) {
	loc, err := findLocationByCode(ctx, tx, snap.Location)
	if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
		return nil, lianlu.Invalid(lianlu.FieldError{Field: "data.location", Message: "unknown location " + snap.Location})
	} else if err != nil {
		return nil, err
	}
	// The count is the fact of the department that keeps the location,
	// whoever sends it (an admin sends it as that department).
	if e.Department != LocationDepartment(loc.Kind) {
		return nil, &lianlu.Error{Code: lianlu.EFORBIDDEN, Message: "only " + LocationDepartment(loc.Kind) + " counts the stock of " + loc.Code,
			Fields: []lianlu.FieldError{{Field: "data.location", Message: "belongs to " + LocationDepartment(loc.Kind)}}}
	}
	var effects []string
	var errs []lianlu.FieldError
	var conflict bool
	for i, it := range snap.Items {
		prod, err := findProductBySKU(ctx, tx, it.SKU)
		if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("data.items[%d].sku", i), Message: "unknown SKU " + it.SKU})
			continue
		} else if err != nil {
			return nil, err
		}
		if err := ensureStockRow(ctx, tx, prod.ID, loc.ID); err != nil {
			return nil, err
		}
		level, err := stockLevel(ctx, tx, prod.ID, loc.ID)
		if err != nil {
			return nil, err
		}
		if it.OnHand < level.Reserved {
			conflict = true
			errs = append(errs, lianlu.FieldError{Field: fmt.Sprintf("data.items[%d].on_hand", i),
				Message: fmt.Sprintf("%d counted but %d are reserved; release or cancel reservations first", it.OnHand, level.Reserved)})
			continue
		}
		if delta := it.OnHand - level.OnHand; delta != 0 {
			if _, err := adjustTx(ctx, tx, lianlu.Adjustment{SKU: it.SKU, Location: loc.Code, Delta: delta, Reason: "count"}); err != nil {
				return nil, err
			}
		}
		effects = append(effects, "stock/"+it.SKU+"@"+loc.Code)
	}
	if len(errs) > 0 {
		err := lianlu.Invalid(errs...)
		if conflict {
			err.Code = lianlu.ECONFLICT
		}
		return nil, err
	}
	return effects, nil
}

// applySurvey turns a survey worth acting on into feedback.
func applySurvey(ctx context.Context, tx *Tx, sv collect.Survey) ([]string, error) {
	if !sv.IsFeedback() {
		return nil, nil
	}
	in := lianlu.FeedbackInput{Rating: sv.Rating, ProblemType: sv.ProblemType, Text: sv.Comment, Member: sv.Member, SKU: sv.SKU}
	if in.ProblemType == "" {
		in.ProblemType = collect.SurveyUnspecifiedProblem
	}
	renames := map[string]string{"order": "order_id", "text": "comment"}
	if sv.OrderID != "" {
		id, err := orderIDByExternal(ctx, tx, sv.OrderID)
		if isNotFound(err) {
			return nil, lianlu.Invalid(lianlu.FieldError{Field: "data.order_id", Message: "unknown order " + sv.OrderID})
		} else if err != nil {
			return nil, fmt.Errorf("find order: %w", err)
		}
		in.OrderID = id
	}
	if errs := validateFeedback(&in); len(errs) > 0 {
		return nil, renameFields(lianlu.Invalid(errs...), renames)
	}
	f, err := submitFeedbackTx(ctx, tx, in)
	if err != nil {
		return nil, renameFields(err, renames)
	}
	return []string{FeedbackSubject(f.ID)}, nil
}
