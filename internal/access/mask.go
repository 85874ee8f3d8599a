package access

import (
	"strings"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// MaskPhone keeps a number's country code and first digits and its last
// four: +8613800138000 → +86138****8000.
func MaskPhone(v string) string {
	n := utf8.RuneCountInString(v)
	if n <= 6 {
		return strings.Repeat("*", n)
	}
	keep := min(max(n-8, 1), 6)
	return v[:keep] + "****" + v[n-4:]
}

// MaskEmail keeps the first character and the domain.
func MaskEmail(v string) string {
	local, domain, ok := strings.Cut(v, "@")
	if !ok || local == "" {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}

// MaskIdentity hides an identity's value when it is a contact or WeChat
// id; collector and external ids are not personal on their own.
func MaskIdentity(kind, v string) string {
	switch kind {
	case lianlu.IdentityPhone:
		return MaskPhone(v)
	case lianlu.IdentityEmail:
		return MaskEmail(v)
	case lianlu.IdentityWeChatOpenID, lianlu.IdentityWeChatUnionID:
		if len(v) > 4 {
			return v[:4] + "****"
		}
		return "****"
	}
	return v
}

// MayFindBy reports whether p may look a member up by an identity of kind.
// Lookups by the kinds MaskIdentity hides are refused to those who do not
// see contact details: whether a number finds a member, with the digits
// masking leaves, would tell them the number.
func MayFindBy(p lianlu.Principal, kind string) bool {
	switch kind {
	case lianlu.IdentityPhone, lianlu.IdentityEmail, lianlu.IdentityWeChatOpenID, lianlu.IdentityWeChatUnionID:
		return lianlu.SeesMemberPII(p)
	}
	return true
}

// MemberFor returns the member as p may see her: unchanged for those who
// see members' PII (lianlu.SeesMemberPII), else with contacts and WeChat
// ids masked and traits (which may hold anything) left out. The API and
// the console both show members through it.
func MemberFor(p lianlu.Principal, m lianlu.Member) lianlu.Member {
	if lianlu.SeesMemberPII(p) {
		return m
	}
	if m.Phone != "" {
		m.Phone = MaskPhone(m.Phone)
	}
	if m.Email != "" {
		m.Email = MaskEmail(m.Email)
	}
	m.Traits = nil
	ids := make([]lianlu.Identity, len(m.Identities))
	for i, id := range m.Identities {
		id.Value = MaskIdentity(id.Kind, id.Value)
		ids[i] = id
	}
	m.Identities = ids
	return m
}
