package collect_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// The examples in docs/events.md are valid events of their types, and each
// standard type has one.
func TestBusinessSchemas_DocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1) {
		var ce struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(m[1], &ce); err != nil {
			t.Fatalf("example is not JSON: %v\n%s", err, m[1])
		}
		if fe := collect.ValidateBusinessEvent(lianlu.Event{Type: ce.Type, Data: ce.Data}, ""); fe != nil {
			t.Errorf("%s example: %+v", ce.Type, fe)
		}
		seen[ce.Type] = true
	}
	for _, typ := range []string{collect.TypeShopOrder, collect.TypePOSSale, collect.TypeInventorySnapshot, collect.TypeSurvey} {
		if !seen[typ] || collect.BusinessSchema(typ) == nil {
			t.Errorf("%s: no example in docs/events.md or no schema", typ)
		}
	}
}

func TestValidateBusinessEvent(t *testing.T) {
	for name, tc := range map[string]struct {
		typ, data string
		fields    []string
	}{
		"other type":   {"page.viewed", `{"anything":1}`, nil},
		"missing":      {collect.TypeSurvey, `{}`, []string{"data.survey_id", "data.rating"}},
		"unknown key":  {collect.TypeSurvey, `{"survey_id":"1","rating":3,"ratng":3}`, []string{"data.ratng"}},
		"nested":       {collect.TypeShopOrder, `{"order_id":"1","lines":[{"sku":"A","qty":1},{"sku":"bad sku","qty":1,"unit_price":"1.999"}],"ship_to":{"address":"x","lat":1}}`, []string{"data.lines[1].sku", "data.lines[1].unit_price", "data.ship_to.lng"}},
		"not object":   {collect.TypeInventorySnapshot, `[1]`, []string{"data"}},
		"bad time":     {collect.TypePOSSale, `{"sale_id":"1","store":"S","sold_at":"yesterday","lines":[{"sku":"A","qty":1}]}`, []string{"data.sold_at"}},
		"bad email":    {collect.TypeSurvey, `{"survey_id":"1","rating":3,"member":{"email":"nope"}}`, []string{"data.member.email"}},
		"empty member": {collect.TypeSurvey, `{"survey_id":"1","rating":3,"member":{}}`, []string{"data.member.id", "data.member.phone", "data.member.email"}},
	} {
		fe := collect.ValidateBusinessEvent(lianlu.Event{Type: tc.typ, Data: json.RawMessage(tc.data)}, "")
		var got []string
		for _, f := range fe {
			got = append(got, f.Field)
		}
		if !sameSet(got, tc.fields) {
			t.Errorf("%s: %v, want %v (%+v)", name, got, tc.fields, fe)
		}
	}
	if fe := collect.ValidateBusinessEvent(lianlu.Event{Type: collect.TypeSurvey}, "[2]."); len(fe) != 1 || !strings.HasPrefix(fe[0].Field, "[2].data") {
		t.Fatalf("no data: %+v", fe)
	}
}
