package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestWorkOrdersAPI(t *testing.T) {
	e := newEnv(t)
	js := map[string]string{"Content-Type": "application/json"}
	sales := e.token("sales", lianlu.RoleOperator)
	service := e.token("service", lianlu.RoleOperator)
	serviceViewer := e.token("service", lianlu.RoleViewer)

	r := e.do("POST", "/api/v1/workorders", sales, js, []byte(`{"kind":"order_followup","title":"Customer asks about delivery","subject":"order/O-7"}`))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var wo lianlu.WorkOrder
	r.json(t, &wo)
	if wo.Department != "service" || wo.Status != "open" {
		t.Fatalf("created %+v", wo)
	}
	if r := e.do("POST", "/api/v1/workorders", sales, js, []byte(`{"kind":"x","title":""}`)); r.status != 400 || len(r.problem(t).Errors) != 2 {
		t.Fatalf("invalid: %d %s", r.status, r.body)
	}

	// The service queue shows it; sales cannot read the service queue.
	r = e.do("GET", "/api/v1/workorders?status=open", serviceViewer, nil, nil)
	var list struct{ Items []lianlu.WorkOrder }
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != wo.ID {
		t.Fatalf("service queue: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/workorders?department=service", sales, nil, nil); r.status != 403 {
		t.Fatalf("sales reads service queue: %d", r.status)
	}
	if r := e.do("GET", fmt.Sprintf("/api/v1/workorders/%d", wo.ID), sales, nil, nil); r.status != 404 {
		t.Fatalf("sales reads service work order: %d", r.status)
	}
	if r := e.do("POST", fmt.Sprintf("/api/v1/workorders/%d/accept", wo.ID), serviceViewer, nil, nil); r.status != 403 {
		t.Fatalf("viewer accepts: %d", r.status)
	}
	path := fmt.Sprintf("/api/v1/workorders/%d/", wo.ID)
	if r := e.do("POST", path+"accept", service, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"accepted"`) {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"accept", service, nil, nil); r.status != 409 {
		t.Fatalf("accept twice: %d", r.status)
	}
	// Contacts with the customer: the first sets contacted_at, the status
	// stays; each appends workorder.contacted with its channel.
	if r := e.do("POST", path+"contact", service, js, []byte(`{"channel":"pigeon"}`)); r.status != 400 || r.problem(t).Errors[0].Field != "channel" {
		t.Fatalf("contact by an unknown channel: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"contact", serviceViewer, js, []byte(`{"channel":"phone"}`)); r.status != 403 {
		t.Fatalf("viewer records a contact: %d", r.status)
	}
	if r := e.do("POST", path+"contact", sales, js, []byte(`{"channel":"phone"}`)); r.status != 404 {
		t.Fatalf("another department records a contact: %d", r.status)
	}
	var first, second lianlu.WorkOrder
	e.do("POST", path+"contact", service, js, []byte(`{"channel":"phone","note":"no answer"}`)).json(t, &first)
	e.do("POST", path+"contact", service, js, []byte(`{"channel":"sms","note":"ETA sent"}`)).json(t, &second)
	if first.ContactedAt == nil || second.ContactedAt == nil || !second.ContactedAt.Equal(*first.ContactedAt) || second.Status != "accepted" {
		t.Fatalf("contacts: %+v / %+v", first, second)
	}
	r = e.do("GET", fmt.Sprintf("/api/v1/events?type=workorder.contacted&subject=workorder/%d", wo.ID), e.admin, nil, nil)
	if !strings.Contains(string(r.body), `"channel":"phone"`) || !strings.Contains(string(r.body), `"channel":"sms"`) {
		t.Fatalf("contact events: %s", r.body)
	}
	if r := e.do("POST", path+"resolve", service, js, []byte(`{"resolution_code":"contacted","note":"ETA given"}`)); r.status != 200 || !strings.Contains(string(r.body), `"resolution_code":"contacted"`) {
		t.Fatalf("resolve: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"reassign", service, js, []byte(`{"department":"sales"}`)); r.status != 409 {
		t.Fatalf("reassign resolved: %d", r.status)
	}
	if r := e.do("POST", path+"contact", service, js, []byte(`{"channel":"phone"}`)); r.status != 409 {
		t.Fatalf("contact on a resolved work order: %d", r.status)
	}

	// Reassign moves it to another queue, which then owns it.
	r = e.do("POST", "/api/v1/workorders", service, js, []byte(`{"kind":"after_sales","priority":"high","title":"Refund request"}`))
	r.json(t, &wo)
	path = fmt.Sprintf("/api/v1/workorders/%d/", wo.ID)
	if r := e.do("POST", path+"reassign", service, js, []byte(`{"department":"sales","reason":"pricing question"}`)); r.status != 200 {
		t.Fatalf("reassign: %d %s", r.status, r.body)
	}
	if r := e.do("POST", path+"accept", service, nil, nil); r.status != 404 {
		t.Fatalf("old queue acts on reassigned work: %d", r.status)
	}
	if r := e.do("POST", path+"accept", sales, js, []byte(`{"assignee":"li.lei"}`)); r.status != 200 || !strings.Contains(string(r.body), `"assignee":"li.lei"`) {
		t.Fatalf("new queue accepts: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/workorders?status=done", e.admin, nil, nil); r.status != 400 {
		t.Fatalf("bad status: %d", r.status)
	}
}
