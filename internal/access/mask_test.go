package access

import (
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
