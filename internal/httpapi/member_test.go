package httpapi

import "testing"

func TestMaskContacts(t *testing.T) {
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
		if got := maskIdentity(tc.kind, tc.in); got != tc.want {
			t.Errorf("mask %s %q = %q, want %q", tc.kind, tc.in, got, tc.want)
		}
	}
}
