package netguard

import "net/netip"

// special is a range no outbound request goes to by default, with what it
// is. The list follows the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (RFC 6890 and its updates), keeping the globally reachable
// anycast entries of those registries out of it.
type special struct {
	prefix netip.Prefix
	reason string
}

var specialV4 = []special{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified address (\"this network\")"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared carrier-grade NAT address (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address (the cloud metadata service among them)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast address"},
}

var specialV6 = []special{
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("100::/64"), "discard-only address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 address"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment address (Teredo and others)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation address"},
	{netip.MustParsePrefix("3fff::/20"), "documentation address"},
	{netip.MustParsePrefix("5f00::/16"), "segment routing SID address"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local address (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address (deprecated private)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
}

// Prefixes whose IPv6 addresses carry an IPv4 address, which decides.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	compatible = netip.MustParsePrefix("::/96")
)

// Classify returns what kind of special address a is ("loopback address",
// "private address (RFC 1918)" …), or "" for a public unicast address. An IPv6
// address that embeds an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4
// 2002:aabb:ccdd::) is judged by the IPv4 address it reaches.
func Classify(a netip.Addr) string {
	a = a.WithZone("")
	if a.Is4In6() {
		if r := Classify(a.Unmap()); r != "" {
			return r + ", written as IPv4-mapped IPv6"
		}
		return ""
	}
	if a.Is4() {
		for _, s := range specialV4 {
			if s.prefix.Contains(a) {
				return s.reason
			}
		}
		return ""
	}
	for _, s := range specialV6 {
		if s.prefix.Contains(a) {
			return s.reason
		}
	}
	b := a.As16()
	var embedded netip.Addr
	var form string
	switch {
	case nat64.Contains(a):
		embedded, form = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64"
	case sixToFour.Contains(a):
		embedded, form = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4"
	case compatible.Contains(a):
		// ::1 and :: are caught above; the rest of ::/96 is the
		// deprecated IPv4-compatible form.
		embedded, form = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-compatible IPv6"
	default:
		return ""
	}
	if r := Classify(embedded); r != "" {
		return r + ", written as " + form
	}
	if form == "IPv4-compatible IPv6" {
		return "deprecated IPv4-compatible IPv6 address"
	}
	return ""
}
