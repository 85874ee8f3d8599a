package access

import (
	"reflect"
	"testing"

	"github.com/lianlu/lianlu"
)

func TestMaskIdentity(t *testing.T) {
	for _, tc := range []struct{ kind, in, want string }{
		{"phone", "+8613800138000", "+86138****8000"},
		{"phone", "+14155552671", "+141****2671"},
		{"phone", "+12345", "******"},
		{"email", "amy.wang@example.com", "a***@example.com"},
		{"email", "王芳@例子.中国", "王***@例子.中国"},
		{"email", "broken", "***"},
		{"wechat_openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "oUpF****"},
		{"anonymous_id", "dev-1", "dev-1"},
		{"user_id", "u-42", "u-42"},
	} {
		if got := MaskIdentity(tc.kind, tc.in); got != tc.want {
			t.Errorf("mask %s %q = %q, want %q", tc.kind, tc.in, got, tc.want)
		}
	}
}

// TestMemberFor: exactly the departments of lianlu.SeesMemberPII see a
// member's contacts.
func TestMemberFor(t *testing.T) {
	m := lianlu.Member{ID: 7, Phone: "+8613800138000", Email: "amy@example.com", Traits: []byte(`{"city":"上海"}`),
		Identities: []lianlu.Identity{{Kind: lianlu.IdentityPhone, Value: "+8613800138000"}, {Kind: lianlu.IdentityUserID, Value: "u-7"}}}
	for _, tc := range []struct {
		p    lianlu.Principal
		sees bool
	}{
		{lianlu.Principal{Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin}, true},
		{lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleAdmin}, true},
		{lianlu.Principal{Department: lianlu.DeptSales, Role: lianlu.RoleViewer}, true},
		{lianlu.Principal{Department: lianlu.DeptService, Role: lianlu.RoleOperator}, true},
		{lianlu.Principal{Department: lianlu.DeptStores, Role: lianlu.RoleViewer}, true},
		{lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}, false},
		{lianlu.Principal{Department: lianlu.DeptSupplyChain, Role: lianlu.RoleOperator}, false},
		{lianlu.Principal{Department: lianlu.DeptProduct, Role: lianlu.RoleViewer}, false},
	} {
		got := MemberFor(tc.p, m)
		full := got.Phone == m.Phone && got.Email == m.Email && got.Identities[0].Value == m.Identities[0].Value && got.Traits != nil
		masked := got.Phone == "+86138****8000" && got.Email == "a***@example.com" && got.Identities[0].Value == "+86138****8000" &&
			got.Identities[1].Value == "u-7" && got.Traits == nil
		if (tc.sees && !full) || (!tc.sees && !masked) {
			t.Errorf("%s %s sees %+v", tc.p.Department, tc.p.Role, got)
		}
	}
	if m.Identities[0].Value != "+8613800138000" {
		t.Fatal("MemberFor changed the caller's member")
	}
}

func TestMayFindBy(t *testing.T) {
	marketing := lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}
	service := lianlu.Principal{Department: lianlu.DeptService, Role: lianlu.RoleViewer}
	for _, kind := range []string{lianlu.IdentityPhone, lianlu.IdentityEmail, lianlu.IdentityWeChatOpenID, lianlu.IdentityWeChatUnionID} {
		if MayFindBy(marketing, kind) || !MayFindBy(service, kind) {
			t.Errorf("%s: marketing %v, service %v", kind, MayFindBy(marketing, kind), MayFindBy(service, kind))
		}
	}
	for _, kind := range []string{lianlu.IdentityUserID, lianlu.IdentityAnonymousID, lianlu.IdentityExternal} {
		if !MayFindBy(marketing, kind) {
			t.Errorf("%s refused to marketing", kind)
		}
	}
}

func TestMaskName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"王小明", "王**"}, {"顾客13", "顾***"}, {"Amy Wang", "A*******"}, {"李", "李**"}, {"", ""},
	} {
		if got := MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskAddressLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"姑苏区解放路191号1172室", "姑苏区****"}, {"221B Baker Street", "221****"}, {"人民路1号", "****"}, {"", ""},
	} {
		if got := MaskAddressLine(tc.in); got != tc.want {
			t.Errorf("MaskAddressLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestOrderFor: an order's ship-to is masked for exactly the departments
// that do not see members' contacts: name, phone, line and coordinates,
// the city left; the caller's order is not changed.
func TestOrderFor(t *testing.T) {
	o := lianlu.Order{ID: 1, ShipTo: &lianlu.Address{Name: "王芳", Phone: "13800138000", Address: "黄浦区人民大道200号", City: "上海",
		Lat: ptr(31.230416), Lng: ptr(121.473701)}}
	masked := lianlu.Address{Name: "王**", Phone: "138****8000", Address: "黄浦区****", City: "上海", Lat: ptr(31.23), Lng: ptr(121.47)}
	for _, tc := range []struct {
		p    lianlu.Principal
		sees bool
	}{
		{lianlu.Principal{Department: lianlu.DeptSales, Role: lianlu.RoleViewer}, true},
		{lianlu.Principal{Department: lianlu.DeptStores, Role: lianlu.RoleOperator}, true},
		{lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleAdmin}, true},
		{lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}, false},
		{lianlu.Principal{Department: lianlu.DeptProduct, Role: lianlu.RoleViewer}, false},
		{lianlu.Principal{Department: lianlu.DeptSupplyChain, Role: lianlu.RoleOperator}, false},
	} {
		got := OrderFor(tc.p, o).ShipTo
		want := *o.ShipTo
		if !tc.sees {
			want = masked
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s %s sees %+v, want %+v", tc.p.Department, tc.p.Role, *got, want)
		}
	}
	if o.ShipTo.Name != "王芳" || *o.ShipTo.Lat != 31.230416 {
		t.Fatal("OrderFor changed the caller's order")
	}
	if OrderFor(lianlu.Principal{Department: lianlu.DeptProduct}, lianlu.Order{ID: 2}).ShipTo != nil {
		t.Fatal("a store order got a ship-to")
	}
}

// TestMaskEventData: personal data is masked wherever it sits in an
// event's data; data without any is returned byte for byte.
func TestMaskEventData(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"identify traits left out", `{"type":"identify","userId":"cust-13","traits":{"phone":"15261896513","email":"a@example.com"}}`,
			`{"type":"identify","userId":"cust-13"}`},
		{"context traits left out", `{"event":"Signed Up","context":{"traits":{"name":"王芳"},"locale":"zh-CN"}}`,
			`{"context":{"locale":"zh-CN"},"event":"Signed Up"}`},
		{"contacts at any depth", `{"member":{"phone":"+8613800138000","Email":"amy.wang@example.com"},"items":[{"mobile":13800138000}]}`,
			`{"items":[{"mobile":"138****8000"}],"member":{"Email":"a***@example.com","phone":"+86138****8000"}}`},
		{"a ship-to", `{"order":{"id":7,"shipTo":{"name":"顾客13","phone":"15261896513","address":"白云区解放路142号1456室","city":"广州","lat":23.096428439294993,"lng":113.26300749074676}}}`,
			`{"order":{"id":7,"shipTo":{"address":"白云区****","city":"广州","lat":23.1,"lng":113.26,"name":"顾***","phone":"152****6513"}}}`},
		{"an address line", `{"title":"上门安装","address":"白云区解放路142号1456室","name":"Landing"}`,
			`{"address":"白云区****","name":"Landing","title":"上门安装"}`},
		{"an identity", `{"kind":"email","value":"amy@example.com","member_a":1}`, `{"kind":"email","member_a":1,"value":"a***@example.com"}`},
		{"nothing personal", `{"event":"Product Viewed",  "properties":{"name":"青禾 冰箱","price":"4599.00"}}`,
			`{"event":"Product Viewed",  "properties":{"name":"青禾 冰箱","price":"4599.00"}}`},
		{"not JSON", `{"phone":`, ``},
	} {
		if got := string(MaskEventData([]byte(tc.in))); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestEventFor: departments that see members' contacts read events as
// they are; the others masked.
func TestEventFor(t *testing.T) {
	e := lianlu.Event{Seq: 1, Type: "segment.identify", Department: lianlu.DeptMarketing, Data: []byte(`{"traits":{"phone":"15261896513"}}`)}
	if got := EventFor(lianlu.Principal{Department: lianlu.DeptService, Role: lianlu.RoleViewer}, e); string(got.Data) != string(e.Data) {
		t.Errorf("service reads %s", got.Data)
	}
	if got := EventFor(lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}, e); string(got.Data) != `{}` {
		t.Errorf("marketing reads %s", got.Data)
	}
}

// TestVisibility: who reads another department's events, handoffs and
// work orders.
func TestVisibility(t *testing.T) {
	admin := lianlu.Principal{Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin}
	marketing := lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}
	sales := lianlu.Principal{Department: lianlu.DeptSales, Role: lianlu.RoleViewer}
	if EventDepartments(admin) != nil || !reflect.DeepEqual(EventDepartments(marketing), []string{lianlu.DeptMarketing}) {
		t.Fatalf("event departments: admin %v, marketing %v", EventDepartments(admin), EventDepartments(marketing))
	}
	placed := lianlu.Event{Type: "order.placed", Department: lianlu.DeptSales}
	h := lianlu.Handoff{FromDepartment: lianlu.DeptSales, ToDepartment: lianlu.DeptService}
	wo := lianlu.WorkOrder{Department: lianlu.DeptService}
	for _, tc := range []struct {
		p                    lianlu.Principal
		event, handoff, work bool
	}{
		{admin, true, true, true},
		{sales, true, true, false},
		{marketing, false, false, false},
		{lianlu.Principal{Department: lianlu.DeptService, Role: lianlu.RoleOperator}, false, true, true},
	} {
		if SeesEvent(tc.p, placed) != tc.event || SeesHandoff(tc.p, h) != tc.handoff || SeesWorkOrder(tc.p, wo) != tc.work {
			t.Errorf("%s: event %v handoff %v work order %v", tc.p.Department, SeesEvent(tc.p, placed), SeesHandoff(tc.p, h), SeesWorkOrder(tc.p, wo))
		}
	}
}
