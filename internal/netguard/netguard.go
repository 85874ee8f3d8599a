// Package netguard keeps Lianlu's outbound HTTP requests (webhooks, offer
// channels, and whatever else sends to a URL someone configured) away from
// the server's own network: loopback, link-local (the cloud metadata
// service at 169.254.169.254 among them), private and shared ranges,
// unspecified, multicast and other special-purpose addresses, also when
// written as IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 addresses.
//
// The check that counts runs when a connection is made, on the address
// actually dialled (a net.Dialer Control hook): a host name whose DNS
// answer changes between two requests (DNS rebinding) is checked again,
// and so is every redirect a client follows. CheckURL adds an early check
// for when a URL is saved, so that a literal forbidden address is refused
// with a clear message instead of failing at its first delivery.
//
// A Policy's allow-list opens the way to on-premise targets: CIDR prefixes
// (or single addresses) and host names, from LIANLU_OUTBOUND_ALLOW.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy decides which addresses outbound requests may reach. The nil
// Policy (and the zero one) allows public unicast addresses only.
type Policy struct {
	prefixes []netip.Prefix
	// hosts are allowed host names, lower case without a trailing dot;
	// suffixes are ".example.com" for an entry "*.example.com".
	hosts    []string
	suffixes []string
}

// New returns the policy that allows, besides public addresses, the
// entries of allow: CIDR prefixes ("10.20.0.0/16", "fd00:1::/64"), single
// addresses ("10.20.0.5") and host names ("erp.corp.example", or
// "*.corp.example" for every name under corp.example). An allowed host
// name is trusted whatever it resolves to. Empty entries are skipped.
func New(allow []string) (*Policy, error) {
	p := &Policy{}
	for _, raw := range allow {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pfx.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(e), ".")
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			if !isHostName(rest) {
				return nil, fmt.Errorf("outbound allow-list entry %q: not a CIDR prefix, an IP address or a host name", raw)
			}
			p.suffixes = append(p.suffixes, "."+rest)
			continue
		}
		if !isHostName(name) || looksNumeric(name) {
			return nil, fmt.Errorf("outbound allow-list entry %q: not a CIDR prefix, an IP address or a host name", raw)
		}
		p.hosts = append(p.hosts, name)
	}
	return p, nil
}

// MustNew is New for tests and literals: it panics on a bad entry.
func MustNew(allow ...string) *Policy {
	p, err := New(allow)
	if err != nil {
		panic(err)
	}
	return p
}

// RefusedError is an outbound connection or URL that the policy refuses.
// The worker that meets one gives up at once: retrying would not help.
type RefusedError struct {
	// Host is the URL's host when the refusal names one (CheckURL).
	Host string
	// Addr is the refused address; invalid when a host name was refused.
	Addr netip.Addr
	// Reason says what kind of address it is, such as "loopback
	// address".
	Reason string
}

func (e *RefusedError) Error() string {
	target := e.Host
	if e.Addr.IsValid() {
		target = e.Addr.String()
		if e.Host != "" && e.Host != target {
			target = e.Host + " (" + target + ")"
		}
	}
	return "outbound request to " + target + " refused: " + e.Reason + "; list it in LIANLU_OUTBOUND_ALLOW to allow it"
}

// IsRefused reports whether err is, or wraps, a refusal of the policy.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// AllowsHost reports whether host (a name, not an address) is on the
// allow-list.
func (p *Policy) AllowsHost(host string) bool {
	if p == nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range p.hosts {
		if h == a {
			return true
		}
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// CheckAddr returns nil when a may be connected to: it is a public
// unicast address, or the allow-list holds it; else a *RefusedError.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &RefusedError{Addr: a, Reason: "invalid address"}
	}
	a = a.WithZone("")
	if p != nil {
		u := a.Unmap()
		for _, pfx := range p.prefixes {
			if pfx.Contains(u) {
				return nil
			}
		}
	}
	if reason := Classify(a); reason != "" {
		return &RefusedError{Addr: a, Reason: reason}
	}
	return nil
}

// CheckURL is the early check of a URL when it is saved: scheme http or
// https, and a host that is not a literal forbidden address nor a name
// that always means this machine (localhost). Names are not resolved
// here: the connection-time check sees what they resolve to. It returns a
// *RefusedError for a forbidden host, or an error saying what is wrong.
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("must be an absolute http or https URL")
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(a); err != nil {
			return err
		}
		return nil
	}
	if p.AllowsHost(host) {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return &RefusedError{Host: host, Reason: "loopback address (localhost)"}
	}
	if looksNumeric(name) {
		// 2130706433, 0x7f.1, 127.1: forms some resolvers read as an
		// address. Ask for the address written out.
		return errors.New("host must be a name or an IP address written out in full, such as 203.0.113.7")
	}
	return nil
}

// Control is the net.Dialer Control hook: it refuses a connection whose
// remote address the policy does not allow. It runs for every address a
// dialer tries, after name resolution, so it sees what is really
// connected to.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Host: address, Reason: "unparsable " + network + " address"}
	}
	return p.CheckAddr(ap.Addr())
}

// Dialer returns a dialer whose connections the policy checks.
func (p *Policy) Dialer(resolver *net.Resolver) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Resolver: resolver, Control: p.Control}
}

// DialContext dials through the policy: a host name on the allow-list is
// dialled whatever it resolves to; anything else only to allowed
// addresses.
func (p *Policy) DialContext(resolver *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := p.Dialer(resolver)
	trusted := &net.Dialer{Timeout: guarded.Timeout, KeepAlive: guarded.KeepAlive, Resolver: resolver}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && p.AllowsHost(host) {
			if _, err := netip.ParseAddr(host); err != nil {
				return trusted.DialContext(ctx, network, addr)
			}
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// ClientOptions shape the client NewClient builds.
type ClientOptions struct {
	// Timeout bounds a whole request (default 10s).
	Timeout time.Duration
	// FollowRedirects follows up to 5 redirects, each checked like the
	// first request; by default a 3xx is returned as the response.
	FollowRedirects bool
	// Resolver resolves host names (default net.DefaultResolver).
	Resolver *net.Resolver
}

// NewClient is the HTTP client every outbound sender uses: its connections
// go only where the policy allows. It ignores HTTP_PROXY and the like: a
// proxy would make the connection to the real target, out of the check's
// sight.
func (p *Policy) NewClient(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.DialContext(o.Resolver),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	c := &http.Client{Transport: t, Timeout: o.Timeout}
	if o.FollowRedirects {
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return errors.New("redirect to a scheme other than http or https")
			}
			return nil
		}
	} else {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// isHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits and hyphens (and underscores, which some internal names
// use), none empty or longer than 63, at most 253 in all.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// looksNumeric reports whether a host name is made only of digits, dots
// and hexadecimal 0x groups: no real name is, and resolvers that follow
// inet_aton read such names as IPv4 addresses.
func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			continue
		}
		l := strings.ToLower(label)
		if rest, ok := strings.CutPrefix(l, "0x"); ok {
			for i := 0; i < len(rest); i++ {
				if !strings.ContainsRune("0123456789abcdef", rune(rest[i])) {
					return false
				}
			}
			continue
		}
		for i := 0; i < len(l); i++ {
			if l[i] < '0' || l[i] > '9' {
				return false
			}
		}
	}
	return true
}
