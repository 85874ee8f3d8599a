package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestOrderPage_AsTheAPIShowsIt: the console's order page shows each user
// what the API shows her department: marketing the ship-to masked, no
// work order of another queue, no other department's events on the
// timeline; service its own work order and events, the address in clear.
func TestOrderPage_AsTheAPIShowsIt(t *testing.T) {
	e := newEnv(t, "")
	path := fmt.Sprintf("/orders/%d", e.order.ID)
	wo := fmt.Sprintf("<li>#%d %s", e.wo.ID, e.wo.Title)
	for _, tc := range []struct {
		user         string
		clear, queue bool
		// events are event types the timeline must show, others it
		// must not.
		events, others []string
	}{
		{"marketer", false, false, nil, []string{"order.placed", "workorder.created", "fulfillment.reserved"}},
		{"agent", true, true, []string{"workorder.created"}, []string{"order.placed", "fulfillment.reserved"}},
		{"admin", true, true, []string{"order.placed", "workorder.created", "fulfillment.reserved"}, nil},
	} {
		c := e.client("en")
		c.login(tc.user)
		res, page := c.do("GET", path, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", tc.user, res.StatusCode)
		}
		if strings.Contains(page, "世纪大道100号") != tc.clear || strings.Contains(page, "世纪大****") == tc.clear {
			t.Errorf("%s: the ship-to in clear %v, want %v", tc.user, !tc.clear, tc.clear)
		}
		if strings.Contains(page, wo) != tc.queue {
			t.Errorf("%s: service's work order shown %v, want %v", tc.user, !tc.queue, tc.queue)
		}
		for _, typ := range tc.events {
			if !strings.Contains(page, "<code>"+typ+"</code>") {
				t.Errorf("%s: the timeline lacks %s", tc.user, typ)
			}
		}
		for _, typ := range tc.others {
			if strings.Contains(page, "<code>"+typ+"</code>") {
				t.Errorf("%s: the timeline shows %s", tc.user, typ)
			}
		}
	}
}

// TestEventsPage_DataMasked: the console's event log shows marketing its
// events' data masked, as the API does; an admin reads it as it came.
func TestEventsPage_DataMasked(t *testing.T) {
	e := newEnv(t, "")
	if _, err := sqlstore.NewEventService(e.db).AppendEvents(context.Background(), []lianlu.Event{{ID: "id-1", Source: "segment:web", Type: "segment.identify",
		Subject: "user/cust-1", Department: lianlu.DeptMarketing, Data: []byte(`{"userId":"cust-1","traits":{"phone":"13700001234","email":"lily@example.com"}}`)}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user  string
		clear bool
	}{{"admin", true}, {"marketer", false}} {
		c := e.client("en")
		c.login(tc.user)
		_, page := c.do("GET", "/events", nil)
		if !strings.Contains(page, "cust-1") {
			t.Fatalf("%s: the event is not on the page", tc.user)
		}
		if strings.Contains(page, "13700001234") != tc.clear || strings.Contains(page, "lily@example.com") != tc.clear {
			t.Errorf("%s: the traits in clear %v, want %v", tc.user, !tc.clear, tc.clear)
		}
	}
}
