package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// chromiumPath finds the system Chromium, or skips the test saying why.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("LIANLU_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("browser tests need Chromium (apt-get install chromium, or set LIANLU_CHROMIUM); skipped")
	return ""
}

// artifactsDir is where screenshots go: test-artifacts/console at the top
// of the repository (git-ignored), or $LIANLU_TEST_ARTIFACTS.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LIANLU_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts", "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// demoMain starts a server on a copy of the small demo (demoData: seeded
// once per test binary, history up to then), without the live trickle,
// so that what changes on the pages is what the test does.
func demoMain(t *testing.T) *Main {
	t.Helper()
	dir := demoData(t)
	m := NewMain()
	m.Config.DataDir = dir
	m.Config.Addr = "127.0.0.1:0"
	m.Config.SLAScanInterval = time.Second
	var start bytes.Buffer
	m.Stdout = &start
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if !strings.Contains(start.String(), "Console: http://"+m.Addr()+"/") || !strings.Contains(start.String(), m.Config.AdminPasswordPath()) {
		t.Fatalf("start-up does not say where and how to sign in:\n%s", start.String())
	}
	return m
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// adminAPI calls the running Main with the admin token.
func adminAPI(t *testing.T, m *Main) api {
	return api{t: t, base: "http://" + m.Addr(), token: readSecret(t, m.Config.AdminTokenPath())}
}

// browser starts headless Chromium with a desktop-sized window.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(width, height))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	return ctx
}

// journey bounds a walk through the console, counted from when the demo
// has been seeded (which under the race detector on a busy machine can
// take minutes of its own).
func journey(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// shoot saves a full-page PNG and fails on what no page may show: an
// untranslated key or a template error.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	html, err := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, bad := range []string{"⟦", "template:", "<no value>", "%!"} {
		if strings.Contains(html, bad) {
			i := strings.Index(html, bad)
			t.Errorf("%s shows %q: …%s…", name, bad, html[max(0, i-200):min(len(html), i+200)])
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir(t), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", user),
		chromedp.SendKeys("#password", password),
		chromedp.Submit("#password"),
		// The sign-in page has a main h1 too: wait for what only a
		// signed-in page has, or the next navigation aborts this one.
		chromedp.WaitVisible(`form[action="/logout"]`),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// TestConsole_Browser walks the console as a person would, in Chromium:
// sign in, see the demo's overview, watch an order placed through the API
// arrive in the service queue without a reload, accept its work order from
// the page, switch to Chinese, and look at every page.
func TestConsole_Browser(t *testing.T) {
	ctx := browser(t, 1280, 900)
	m := demoMain(t)
	ctx = journey(t, ctx)
	base := "http://" + m.Addr()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/login")); err != nil {
		t.Fatal(err)
	}
	shoot(t, ctx, "login")
	login(t, ctx, base, adminUsername, readSecret(t, m.Config.AdminPasswordPath()))

	// The overview has non-empty charts: bars of orders, lines of event
	// rates.
	if err := chromedp.Do(ctx, chromedp.WaitVisible("svg rect.s0"), chromedp.WaitVisible("svg polyline.line")); err != nil {
		t.Fatalf("overview charts: %v", err)
	}
	shoot(t, ctx, "overview")

	// The service queue follows the log live.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/queue?department=service"),
		chromedp.WaitVisible("#livestate.on"),
		chromedp.Evaluate[chromedp.Void](`window.lianluNoReload = "still here"`),
	); err != nil {
		t.Fatalf("queue: %v", err)
	}
	a := adminAPI(t, m)
	var order lianlu.Order
	a.must("POST", "/api/v1/orders", map[string]any{
		"external_id": "BROWSER-1", "channel": "online", "member": map[string]any{"phone": "13912345678"},
		"lines": []any{map[string]any{"sku": "QH-SA-AF5", "qty": 1}}, "ship_to": map[string]any{"address": "上海市浦东新区世纪大道100号", "city": "上海"},
	}, http.StatusCreated, &order)
	orderID := order.ID
	var woID int64
	for deadline := time.Now().Add(20 * time.Second); woID == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var wos struct{ Items []lianlu.WorkOrder }
		a.must("GET", fmt.Sprintf("/api/v1/workorders?subject=order/%d", orderID), nil, http.StatusOK, &wos)
		if len(wos.Items) > 0 {
			woID = wos.Items[0].ID
		}
	}
	if woID == 0 {
		t.Fatal("the order flow made no follow-up work order")
	}
	row := fmt.Sprintf("#wo-%d", woID)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("the new work order did not appear on the queue page: %v", err)
	}
	if still, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.lianluNoReload || ""`)); err != nil || still != "still here" {
		t.Fatalf("the queue page reloaded instead of updating in place (%q, %v)", still, err)
	}
	shoot(t, ctx, "queue")

	// Accept it from the page.
	if err := chromedp.Do(ctx,
		chromedp.Click(row+` button[data-action="accept"]`),
		chromedp.WaitVisible(row+`[data-status="accepted"]`),
		chromedp.WaitVisible("p.flash"),
	); err != nil {
		t.Fatalf("accept from the page: %v", err)
	}
	var wo lianlu.WorkOrder
	a.must("GET", fmt.Sprintf("/api/v1/workorders/%d", woID), nil, http.StatusOK, &wo)
	if wo.Status != lianlu.WorkOrderAccepted || wo.Assignee != adminUsername {
		t.Fatalf("after accepting on the page the work order is %v", wo)
	}
	shoot(t, ctx, "queue-accepted")

	// The order's timeline shows the flow across departments.
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/orders/%d", base, orderID)), chromedp.WaitVisible("svg rect.open")); err != nil {
		t.Fatalf("order timeline: %v", err)
	}
	shoot(t, ctx, "order")

	// The demo's channel fusion: a store with on-site requests dispatched
	// to it, a member who got an offer, and identity conflicts.
	storeCode, memberID := channelPages(t, m)

	// Every other page, in English.
	pages := []struct{ name, path, ready string }{
		{"orders", "/orders", "table"},
		{"feedback", "/feedback", "table"},
		{"feedback-detail", "/feedback/1", "ol.timeline"},
		{"stores", "/stores", "svg circle.store"},
		{"store", "/stores/SH-XJH", `img[src="/stores/SH-XJH/qr.svg"]`},
		{"store-requests", "/stores/" + storeCode, "ol.attempts"},
		{"members", "/members", "table"},
		{"member", fmt.Sprintf("/members/%d", memberID), "ol.member-timeline"},
		{"offers", "/offers", "table.offers"},
		{"events", "/events", "table.events"},
		{"flows", "/flows", "ol.steps"},
		{"flow", "/flows/order_placed", "textarea#yaml"},
		{"not-found", "/no/such/page", "p.status"},
	}
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.ready)); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		shoot(t, ctx, p.name)
	}

	// An operator resolves an identity conflict from the members page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/members"),
		chromedp.WaitVisible(`#conflicts li.conflict`),
		chromedp.Click(`#conflicts li.conflict button[data-action="merge-a"]`),
		chromedp.WaitVisible("p.flash"),
	); err != nil {
		t.Fatalf("merge from the conflict list: %v", err)
	}
	shoot(t, ctx, "members-merged")

	// Switch to Chinese: the choice sticks across pages.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`button[value="zh-CN"]`),
		chromedp.Click(`button[value="zh-CN"]`),
		chromedp.WaitVisible(`html[lang="zh-CN"]`),
	); err != nil {
		t.Fatalf("switch language: %v", err)
	}
	nav, err := chromedp.Run(ctx, chromedp.Text(`nav a[aria-current="page"]`))
	if err != nil || nav != "概览" {
		t.Fatalf("navigation after switching to Chinese: %q, %v", nav, err)
	}
	shoot(t, ctx, "overview-zh")
	for _, p := range pages {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.ready), chromedp.WaitVisible(`html[lang="zh-CN"]`)); err != nil {
			t.Fatalf("%s in Chinese: %v", p.path, err)
		}
		shoot(t, ctx, p.name+"-zh")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/queue?department=service"), chromedp.WaitVisible(row)); err != nil {
		t.Fatal(err)
	}
	shoot(t, ctx, "queue-zh")

	// And back to English.
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="en"]`), chromedp.WaitVisible(`html[lang="en"]`)); err != nil {
		t.Fatalf("switch back: %v", err)
	}
}

// TestConsole_BrowserPhone looks at the main pages on a phone-sized
// screen.
func TestConsole_BrowserPhone(t *testing.T) {
	ctx := browser(t, 390, 844)
	m := demoMain(t)
	ctx = journey(t, ctx)
	base := "http://" + m.Addr()
	login(t, ctx, base, adminUsername, readSecret(t, m.Config.AdminPasswordPath()))
	for _, p := range []struct{ name, path string }{{"phone-overview", "/"}, {"phone-queue", "/queue"}, {"phone-stores", "/stores"},
		{"phone-store", "/stores/SH-XJH"}, {"phone-members", "/members"}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible("main h1")); err != nil {
			t.Fatal(err)
		}
		// Nothing may be wider than the screen.
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if err != nil || wide {
			t.Errorf("%s scrolls sideways on a phone (%v)", p.path, err)
		}
		shoot(t, ctx, p.name)
	}
}

// channelPages finds, in the demo's data, a store that on-site requests
// were dispatched to and a member who got an offer.
func channelPages(t *testing.T, m *Main) (string, int64) {
	t.Helper()
	ctx := context.Background()
	wos, err := sqlstore.NewWorkOrderService(m.DB).FindWorkOrders(ctx, lianlu.WorkOrderFilter{Department: lianlu.DeptStores, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	store := ""
	for _, wo := range wos {
		if wo.Dispatch != nil && wo.Store != "" {
			store = wo.Store
			break
		}
	}
	sends, err := offer.NewService(m.DB, nil).FindSends(ctx, 0, 0, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var member int64
	for _, s := range sends {
		if s.Status == lianlu.SendSent {
			member = s.MemberID
			break
		}
	}
	if store == "" || member == 0 {
		t.Fatalf("the demo has no dispatched on-site request (%q) or no offer sent (%d)", store, member)
	}
	return store, member
}
