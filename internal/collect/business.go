package collect

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/lianlu/lianlu"
)

// The standard business event types that other systems send through
// POST /api/v1/events (see docs/events.md). Their data is validated
// against the embedded schemas and mapped to Lianlu's commands; the root
// package declares them with the departments that send them, for the
// intake and the consumers of the log alike.
const (
	TypeShopOrder         = lianlu.TypeShopOrder
	TypePOSSale           = lianlu.TypePOSSale
	TypeInventorySnapshot = lianlu.TypeInventorySnapshot
	TypeSurvey            = lianlu.TypeSurvey
)

// schemaFS holds the data schemas, one file per type plus shared
// definitions; docs/events.md documents them.
//
//go:embed schemas/*.json
var schemaFS embed.FS

// businessTypes lists the types that have a schema.
var businessTypes = []string{TypeShopOrder, TypePOSSale, TypeInventorySnapshot, TypeSurvey}

// schemaBase is the base of the schemas' $id; nothing is fetched from it.
const schemaBase = "https://lianlu.invalid/schemas/"

// businessSchemas are the compiled schemas, by type.
var businessSchemas = func() map[string]*jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader)
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files, err := fs.Glob(schemaFS, "schemas/*.json")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		b, _ := schemaFS.ReadFile(f)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			panic(fmt.Sprintf("embedded schema %s: %v", f, err))
		}
		if err := c.AddResource(schemaBase+strings.TrimPrefix(f, "schemas/"), doc); err != nil {
			panic(fmt.Sprintf("embedded schema %s: %v", f, err))
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, t := range businessTypes {
		out[t] = c.MustCompile(schemaBase + t + ".json")
	}
	return out
}()

// IsBusinessType reports whether t is one of the standard business types.
func IsBusinessType(t string) bool { return lianlu.IsBusinessType(t) }

// BusinessDepartments returns the departments that may send type t, nil
// for a type that is not a business type.
func BusinessDepartments(t string) []string { return lianlu.BusinessEventDepartments(t) }

// BusinessSchema returns the JSON Schema of type t's data, nil for other
// types.
func BusinessSchema(t string) []byte {
	if !IsBusinessType(t) {
		return nil
	}
	b, _ := schemaFS.ReadFile("schemas/" + t + ".json")
	return b
}

// ValidateBusinessEvent checks the data of a business event against its
// type's schema. Problems name the field below "data", such as
// "data.lines[0].sku", prefixed with prefix. Events of other types pass.
func ValidateBusinessEvent(e lianlu.Event, prefix string) []lianlu.FieldError {
	sch, ok := businessSchemas[e.Type]
	if !ok {
		return nil
	}
	if len(e.Data) == 0 {
		return []lianlu.FieldError{{Field: prefix + "data", Message: "required for " + e.Type}}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Data))
	if err != nil {
		return []lianlu.FieldError{{Field: prefix + "data", Message: "not valid JSON"}}
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []lianlu.FieldError{{Field: prefix + "data", Message: err.Error()}}
	}
	var out []lianlu.FieldError
	seen := map[string]bool{}
	add := func(field, msg string) {
		if len(out) < 50 && !seen[field+"\x00"+msg] {
			seen[field+"\x00"+msg] = true
			out = append(out, lianlu.FieldError{Field: prefix + field, Message: msg})
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		field := DataPath(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(field+"."+m, "required")
			}
		case *kind.DependentRequired:
			for _, m := range k.Missing {
				add(field+"."+m, "required with "+k.Prop)
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(field+"."+p, "not a field of "+e2type(field))
			}
		default:
			add(field, e.ErrorKind.LocalizedString(printer))
		}
	}
	walk(ve)
	return out
}

func e2type(field string) string {
	if field == "data" {
		return "this event type's data"
	}
	return field
}

// DataPath turns a JSON pointer's tokens into a field name below "data":
// ["lines","0","sku"] is "data.lines[0].sku". The schemas have no object
// keys made of digits, so a numeric token is an array index.
func DataPath(tokens []string) string {
	var b strings.Builder
	b.WriteString("data")
	for _, t := range tokens {
		if t != "" && strings.Trim(t, "0123456789") == "" {
			b.WriteString("[" + t + "]")
		} else {
			b.WriteString("." + t)
		}
	}
	return b.String()
}

// BusinessLine is an order line of a shop order or a POS sale.
type BusinessLine struct {
	SKU       string        `json:"sku"`
	Qty       int64         `json:"qty"`
	UnitPrice *lianlu.Money `json:"unit_price"`
}

// ShopOrder is the data of shop.order.created.
type ShopOrder struct {
	OrderID  string            `json:"order_id"`
	Platform string            `json:"platform"`
	PlacedAt *time.Time        `json:"placed_at"`
	Member   *lianlu.MemberRef `json:"member"`
	Lines    []BusinessLine    `json:"lines"`
	ShipTo   *lianlu.Address   `json:"ship_to"`
}

// POSSale is the data of pos.sale.completed.
type POSSale struct {
	SaleID string            `json:"sale_id"`
	Store  string            `json:"store"`
	SoldAt *time.Time        `json:"sold_at"`
	Staff  string            `json:"staff"`
	Member *lianlu.MemberRef `json:"member"`
	Lines  []BusinessLine    `json:"lines"`
}

// POSExternalID is the external_id of the store order of a POS sale:
// receipt numbers repeat across stores, so the store is part of it.
func POSExternalID(store, saleID string) string { return "pos/" + store + "/" + saleID }

// InventorySnapshot is the data of wms.inventory.snapshot.
type InventorySnapshot struct {
	Location  string     `json:"location"`
	CountedAt *time.Time `json:"counted_at"`
	Items     []struct {
		SKU    string `json:"sku"`
		OnHand int64  `json:"on_hand"`
	} `json:"items"`
}

// Survey is the data of service.survey.submitted.
type Survey struct {
	SurveyID    string            `json:"survey_id"`
	Rating      int               `json:"rating"`
	ProblemType string            `json:"problem_type"`
	Comment     string            `json:"comment"`
	OrderID     string            `json:"order_id"`
	SKU         string            `json:"sku"`
	Member      *lianlu.MemberRef `json:"member"`
	Channel     string            `json:"channel"`
}

// SurveyFeedbackThreshold is the highest rating that makes a survey
// after-sales feedback even without a problem type.
const SurveyFeedbackThreshold = 3

// SurveyUnspecifiedProblem is the problem type of feedback made from a
// low-rated survey that named none.
const SurveyUnspecifiedProblem = "unspecified"

// IsFeedback reports whether a survey becomes after-sales feedback: a
// low rating or a named problem is something to act on; a content
// customer's survey is only recorded.
func (s Survey) IsFeedback() bool {
	return s.Rating <= SurveyFeedbackThreshold || s.ProblemType != ""
}

// Placement returns the order command of a shop order; the event's time
// stands in for a missing placed_at.
func (o ShopOrder) Placement(eventTime time.Time) lianlu.OrderPlacement {
	p := lianlu.OrderPlacement{ExternalID: o.OrderID, Channel: lianlu.ChannelOnline, Member: o.Member, ShipTo: o.ShipTo, Lines: orderLines(o.Lines), PlacedAt: eventTime}
	if o.PlacedAt != nil {
		p.PlacedAt = *o.PlacedAt
	}
	return p
}

// Placement returns the store order command of a POS sale.
func (s POSSale) Placement(eventTime time.Time) lianlu.OrderPlacement {
	p := lianlu.OrderPlacement{ExternalID: POSExternalID(s.Store, s.SaleID), Channel: lianlu.ChannelStore, Store: s.Store, Member: s.Member, Lines: orderLines(s.Lines), PlacedAt: eventTime}
	if s.SoldAt != nil {
		p.PlacedAt = *s.SoldAt
	}
	return p
}

func orderLines(ls []BusinessLine) []lianlu.OrderLine {
	out := make([]lianlu.OrderLine, len(ls))
	for i, l := range ls {
		out[i] = lianlu.OrderLine{SKU: l.SKU, Qty: l.Qty}
		if l.UnitPrice != nil {
			out[i].UnitPrice = *l.UnitPrice
		}
	}
	return out
}

// DecodeBusinessData decodes a validated business event's data into v.
func DecodeBusinessData(e lianlu.Event, v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return lianlu.Invalid(lianlu.FieldError{Field: "data", Message: "does not match " + e.Type + ": " + err.Error()})
	}
	return nil
}
