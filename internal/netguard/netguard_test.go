package netguard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lianlu/lianlu/internal/netguard"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		// want is a word the reason must contain; "" for allowed.
		want string
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456:789a::1", "unique-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"::ffff:127.0.0.1", "loopback address, written as IPv4-mapped"},
		{"::ffff:10.0.0.1", "private address (RFC 1918), written as IPv4-mapped"},
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::7f00:1", "loopback address, written as NAT64"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"64:ff9b:1::1", "NAT64"},
		{"2002:7f00:1::1", "loopback address, written as 6to4"},
		{"2002:c0a8:101::1", "private"},
		{"::127.0.0.1", "loopback address, written as IPv4-compatible"},
		{"::8.8.8.8", "deprecated IPv4-compatible"},
		{"2001:db8::1", "documentation"},
		{"2001::1", "Teredo"},
		// Public unicast addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2002:808:808::1", ""},
		{"2606:4700:4700::1111", ""},
		{"2400:3200::1", ""},
	} {
		got := netguard.Classify(netip.MustParseAddr(tc.addr))
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("Classify(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestPolicy_AllowList(t *testing.T) {
	t.Parallel()
	p := netguard.MustNew("10.20.0.0/16", "192.168.7.9", "fd00:1::/64", "erp.corp.example", "*.hooks.corp.example", " ")
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"10.20.3.4", true},
		{"::ffff:10.20.3.4", true},
		{"10.21.0.1", false},
		{"192.168.7.9", true},
		{"192.168.7.10", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"8.8.8.8", true},
	} {
		err := p.CheckAddr(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%s) = %v, want allowed %v", tc.addr, err, tc.ok)
		}
		if err != nil && !netguard.IsRefused(err) {
			t.Errorf("CheckAddr(%s): %v is not a refusal", tc.addr, err)
		}
	}
	for host, ok := range map[string]bool{"erp.corp.example": true, "ERP.corp.example.": true, "x.erp.corp.example": false,
		"a.hooks.corp.example": true, "hooks.corp.example": false, "corp.example": false} {
		if got := p.AllowsHost(host); got != ok {
			t.Errorf("AllowsHost(%s) = %v", host, got)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not a host!", "*.", "http://x.example", "127.1"} {
		if _, err := netguard.New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	var none *netguard.Policy
	if none.CheckAddr(netip.MustParseAddr("8.8.8.8")) != nil || none.CheckAddr(netip.MustParseAddr("10.0.0.1")) == nil {
		t.Error("the nil policy must allow public and refuse private addresses")
	}
}

func TestPolicy_CheckURL(t *testing.T) {
	t.Parallel()
	p := netguard.MustNew("10.9.0.0/16", "intranet.corp.example")
	for _, tc := range []struct {
		url     string
		refused bool // a *RefusedError
		other   bool // another error
	}{
		{url: "https://hooks.example.com/x"},
		{url: "http://203.0.114.7:8080/x"},
		{url: "http://127.0.0.1:9000/hook", refused: true},
		{url: "http://[::1]/hook", refused: true},
		{url: "http://[::ffff:127.0.0.1]/hook", refused: true},
		{url: "http://169.254.169.254/latest/meta-data/", refused: true},
		{url: "http://10.0.0.8/", refused: true},
		{url: "http://10.9.1.1/", refused: false},
		{url: "http://192.168.0.1/", refused: true},
		{url: "http://[fe80::1%25eth0]/", refused: true},
		{url: "http://[fd00::1]/", refused: true},
		{url: "http://localhost:8080/", refused: true},
		{url: "http://api.localhost/", refused: true},
		{url: "http://intranet.corp.example/", refused: false},
		{url: "http://2130706433/", other: true},
		{url: "http://0x7f.1/", other: true},
		{url: "ftp://files.example.com/", other: true},
		{url: "file:///etc/passwd", other: true},
		{url: "gopher://example.com/", other: true},
	} {
		err := p.CheckURL(tc.url)
		switch {
		case tc.refused && !netguard.IsRefused(err):
			t.Errorf("CheckURL(%s) = %v, want a refusal", tc.url, err)
		case tc.other && (err == nil || netguard.IsRefused(err)):
			t.Errorf("CheckURL(%s) = %v, want a format error", tc.url, err)
		case !tc.refused && !tc.other && err != nil:
			t.Errorf("CheckURL(%s) = %v, want nil", tc.url, err)
		}
	}
}

// hello is a test server answering "hello".
func hello(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	t.Cleanup(srv.Close)
	return srv
}

func get(c *http.Client, u string) error {
	res, err := c.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 {
		return errors.New(res.Status)
	}
	return nil
}

// The default client refuses to connect to loopback, whether the URL
// names the address or a name that resolves to it; the allow-list lets a
// test server on 127.0.0.1 through.
func TestClient_RefusesLoopbackUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv := hello(t)
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	var deny *netguard.Policy
	c := deny.NewClient(netguard.ClientOptions{})
	for _, target := range []string{srv.URL, "http://localhost:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		err := get(c, target)
		if !netguard.IsRefused(err) {
			t.Errorf("GET %s: %v, want a refusal", target, err)
		}
	}
	allowed := netguard.MustNew("127.0.0.1/32").NewClient(netguard.ClientOptions{})
	if err := get(allowed, srv.URL); err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	if err := get(netguard.MustNew("localhost").NewClient(netguard.ClientOptions{}), "http://localhost:"+port+"/"); err != nil {
		t.Fatalf("allowed host name: %v", err)
	}
}

func TestClient_RefusesIPv6Loopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	var deny *netguard.Policy
	if err := get(deny.NewClient(netguard.ClientOptions{}), srv.URL); !netguard.IsRefused(err) {
		t.Fatalf("GET %s: %v, want a refusal", srv.URL, err)
	}
	if err := get(netguard.MustNew("::1").NewClient(netguard.ClientOptions{}), srv.URL); err != nil {
		t.Fatalf("allowed ::1: %v", err)
	}
}

// A redirect is checked like the first request: the allowed server may not
// send the client on to a forbidden address.
func TestClient_RedirectToForbiddenAddress(t *testing.T) {
	t.Parallel()
	// Loopback targets only (refused: the allow-list holds 127.0.0.1
	// alone), so that a broken guard sends nothing off this machine.
	for _, target := range []string{"http://127.0.0.2:1/", "http://[::1]:1/", "http://[::ffff:127.0.0.3]:1/"} {
		srv := httptest.NewServer(http.RedirectHandler(target, http.StatusFound))
		defer srv.Close()
		c := netguard.MustNew("127.0.0.1/32").NewClient(netguard.ClientOptions{FollowRedirects: true})
		err := get(c, srv.URL)
		if !netguard.IsRefused(err) {
			t.Errorf("redirect to %s: %v, want a refusal", target, err)
		}
	}
	// Without FollowRedirects the 3xx is the answer.
	srv := httptest.NewServer(http.RedirectHandler("http://127.0.0.2:1/", http.StatusFound))
	defer srv.Close()
	res, err := netguard.MustNew("127.0.0.1/32").NewClient(netguard.ClientOptions{}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want the 302 itself", res.StatusCode)
	}
}

// fakeDNS answers A queries for every name with the next address of its
// script (the last one once the script runs out), as a rebinding name
// server would.
type fakeDNS struct {
	mu     sync.Mutex
	script []netip.Addr
}

func (f *fakeDNS) next() netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.script[0]
	if len(f.script) > 1 {
		f.script = f.script[1:]
	}
	return a
}

// resolver returns a Go resolver that asks f over an in-memory stream.
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		client, server := net.Pipe()
		go f.serve(server)
		return client, nil
	}}
}

// serve answers DNS-over-TCP framed queries (2-byte length prefix).
func (f *fakeDNS) serve(c net.Conn) {
	defer c.Close()
	for {
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		q := make([]byte, n)
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		// The question ends after the name (labels up to a zero byte)
		// and four bytes of type and class.
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5
		if end > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[end-4:])
		resp := append([]byte(nil), q[:end]...)
		resp[2], resp[3] = 0x81, 0x80 // response, recursion desired and available
		binary.BigEndian.PutUint16(resp[6:], 0)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		if qtype == 1 { // A
			a := f.next().As4()
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
			resp = append(resp, a[:]...)
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// A name is checked each time it is connected to: when its DNS answer
// changes from an allowed address to a forbidden one (rebinding), the next
// connection is refused.
func TestClient_RebindingNameIsCheckedAgain(t *testing.T) {
	t.Parallel()
	srv := hello(t)
	u, _ := url.Parse(srv.URL)
	// The forbidden answer is another loopback address, so that a broken
	// guard sends nothing off this machine.
	dns := &fakeDNS{script: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.9")}}
	c := netguard.MustNew("127.0.0.1/32").NewClient(netguard.ClientOptions{Resolver: dns.resolver()})
	c.Transport.(*http.Transport).DisableKeepAlives = true
	target := "http://rebind.test:" + u.Port() + "/"
	if err := get(c, target); err != nil {
		t.Fatalf("first request, resolving to 127.0.0.1 (allowed): %v", err)
	}
	// The resolver may ask twice (A and AAAA) per lookup; keep asking
	// until the answer changed.
	var err error
	for range 3 {
		if err = get(c, target); err != nil {
			break
		}
	}
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) || refused.Addr != netip.MustParseAddr("127.0.0.9") {
		t.Fatalf("after rebinding to 127.0.0.9: %v, want a refusal of that address", err)
	}
}
