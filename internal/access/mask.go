package access

import (
	"bytes"
	"encoding/json"
	"math"
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

// MaskName keeps a person's name's first character: 王小明 → 王**,
// Amy Wang → A*******.
func MaskName(v string) string {
	r, size := utf8.DecodeRuneInString(v)
	if size == 0 {
		return ""
	}
	return string(r) + strings.Repeat("*", max(utf8.RuneCountInString(v)-1, 2))
}

// MaskAddressLine keeps an address line's first three characters (in
// China the district, after the city, which stays in clear) and hides the
// rest: 姑苏区解放路191号1172室 → 姑苏区****. A line of six characters or
// fewer is hidden whole.
func MaskAddressLine(v string) string {
	n := utf8.RuneCountInString(v)
	if n == 0 {
		return ""
	}
	if n <= 6 {
		return "****"
	}
	keep := 0
	for range 3 {
		_, size := utf8.DecodeRuneInString(v[keep:])
		keep += size
	}
	return v[:keep] + "****"
}

// MaskCoordinate rounds a latitude or longitude to two decimals, about a
// kilometre: an order still lands in its part of town on a map, not on
// its house.
func MaskCoordinate(v float64) float64 { return math.Round(v*100) / 100 }

// MaskAddress returns an address (an order's ship-to, the address of a
// service request) with the recipient's name, phone and address line
// masked and the coordinates rounded; the city stays. It is the one mask
// of an address: orders, events and pages all go through it.
func MaskAddress(a lianlu.Address) lianlu.Address {
	if a.Name != "" {
		a.Name = MaskName(a.Name)
	}
	if a.Phone != "" {
		a.Phone = MaskPhone(a.Phone)
	}
	a.Address = MaskAddressLine(a.Address)
	if a.Lat != nil {
		v := MaskCoordinate(*a.Lat)
		a.Lat = &v
	}
	if a.Lng != nil {
		v := MaskCoordinate(*a.Lng)
		a.Lng = &v
	}
	return a
}

// AddressFor returns an address as p may see it: unchanged for those who
// see members' PII (lianlu.SeesMemberPII), else masked (MaskAddress).
func AddressFor(p lianlu.Principal, a *lianlu.Address) *lianlu.Address {
	if a == nil || lianlu.SeesMemberPII(p) {
		return a
	}
	m := MaskAddress(*a)
	return &m
}

// OrderFor returns an order as p may see it: its ship-to through
// AddressFor. The API and the console both show orders through it.
func OrderFor(p lianlu.Principal, o lianlu.Order) lianlu.Order {
	o.ShipTo = AddressFor(p, o.ShipTo)
	return o
}

// EventFor returns an event as p may see its data: unchanged for those who
// see members' PII, else with the personal data in it masked as on
// members and orders (MaskEventData). Every way events leave Lianlu for a
// reader (the events API, the stream, timelines, the console) goes
// through it; which events p may read at all is SeesEvent's decision.
func EventFor(p lianlu.Principal, e lianlu.Event) lianlu.Event {
	if lianlu.SeesMemberPII(p) || len(e.Data) == 0 {
		return e
	}
	e.Data = MaskEventData(e.Data)
	return e
}

// MaskEventData masks the personal data in an event's JSON data, found by
// key at any depth (keys compared without case, "_" or "-"):
//
//   - phone and email values, and the value of an identity object
//     ({"kind": "phone", "value": …}), as MaskIdentity;
//   - an address: an object under ship_to, address, shipping_address or
//     billing_address as MaskAddress (the recipient's name, phone, line
//     and coordinates), a string under those keys as MaskAddressLine;
//   - traits (Segment identify traits, which may hold anything) are left
//     out, as MemberFor leaves out a member's.
//
// Data that is not JSON is left out. Data without personal data is
// returned as it was, byte for byte.
func MaskEventData(data json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	v, changed := maskJSON(v, false)
	if !changed {
		return data
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// dataKey normalises a key of event data: shipTo, ship_to and Ship-To are
// one key.
func dataKey(k string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
}

// Keys of event data MaskEventData masks.
var (
	phoneKeys   = map[string]bool{"phone": true, "mobile": true, "phonenumber": true, "tel": true, "telephone": true}
	emailKeys   = map[string]bool{"email": true, "emailaddress": true}
	addressKeys = map[string]bool{"shipto": true, "address": true, "shippingaddress": true, "billingaddress": true}
	// Inside an address object: the recipient and the lines.
	recipientKeys = map[string]bool{"name": true, "firstname": true, "lastname": true, "fullname": true, "recipient": true, "contact": true}
	lineKeys      = map[string]bool{"street": true, "line1": true, "line2": true, "address1": true, "address2": true}
	coordKeys     = map[string]bool{"lat": true, "lng": true, "lon": true, "latitude": true, "longitude": true}
)

func isNumber(v any) bool {
	_, ok := v.(json.Number)
	return ok
}

// maskJSON masks v (decoded with UseNumber) and reports whether anything
// changed; inAddress is true inside an address object.
func maskJSON(v any, inAddress bool) (any, bool) {
	switch x := v.(type) {
	case []any:
		changed := false
		for i := range x {
			var c bool
			x[i], c = maskJSON(x[i], false)
			changed = changed || c
		}
		return x, changed
	case map[string]any:
		changed := false
		if kind, ok := x["kind"].(string); ok {
			if val, ok := x["value"].(string); ok && val != "" {
				if m := MaskIdentity(kind, val); m != val {
					x["value"], changed = m, true
				}
			}
		}
		for k, val := range x {
			nk := dataKey(k)
			var masked any
			switch s, isString := val.(string); {
			case nk == "traits":
				delete(x, k)
				changed = true
				continue
			case isString && s != "" && phoneKeys[nk]:
				masked = MaskPhone(s)
			case phoneKeys[nk] && isNumber(val):
				masked = MaskPhone(val.(json.Number).String())
			case isString && s != "" && emailKeys[nk]:
				masked = MaskEmail(s)
			case isString && s != "" && (addressKeys[nk] || inAddress && lineKeys[nk]):
				masked = MaskAddressLine(s)
			case isString && s != "" && inAddress && recipientKeys[nk]:
				masked = MaskName(s)
			case inAddress && coordKeys[nk]:
				n, ok := val.(json.Number)
				if !ok {
					continue
				}
				f, err := n.Float64()
				if err != nil {
					continue
				}
				masked = MaskCoordinate(f)
			default:
				var c bool
				x[k], c = maskJSON(val, addressKeys[nk])
				changed = changed || c
				continue
			}
			x[k], changed = masked, true
		}
		return x, changed
	}
	return v, false
}
