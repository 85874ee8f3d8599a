package offer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
	"github.com/lianlu/lianlu/internal/webhook"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }

// receiver is the brand's messaging service.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies, rc.heads = append(rc.bodies, b), append(rc.heads, r.Header.Clone())
	rc.mu.Unlock()
}

func (rc *receiver) count() int { rc.mu.Lock(); defer rc.mu.Unlock(); return len(rc.bodies) }

const triedNotBought = `events.exists(e, e.type == "product.tried" && e.data.sku == "AP-1" && e.time > now - duration("168h")) &&
	!events.exists(e, e.type == "order.placed" && e.data.lines.exists(l, l.sku == "AP-1"))`

func TestOffers(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)} // 12:00 in Shanghai
			db, err := sqlstore.Open(context.Background(), sqlstoretest.Options(t, dialect, sqlstore.Options{Now: clk.Now}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: "admin", Role: lianlu.RoleAdmin})
			if _, _, err := sqlstore.NewCatalogService(db).UpsertProduct(ctx, lianlu.Product{SKU: "AP-1", Name: "Air purifier", Category: "air", Price: 199900, Active: true}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := sqlstore.NewStoreService(db).CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
				t.Fatal(err)
			}
			members := sqlstore.NewMemberService(db)
			amy, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			bea, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13900139000"})
			if err != nil {
				t.Fatal(err)
			}
			wh, err := sqlstore.NewWebhookService(db).CreateWebhook(ctx, webhook.Create{URL: "http://example.invalid/hook", EventTypes: []string{"offer.none"}})
			if err != nil {
				t.Fatal(err)
			}
			rcv := &receiver{}
			srv := httptest.NewServer(rcv)
			defer srv.Close()

			engine := offer.NewEngine(db, offer.EngineConfig{})
			svc := offer.NewService(db, engine)
			// The messaging service is on loopback: allowed explicitly.
			svc.Outbound = netguard.MustNew("127.0.0.1/32")
			rule, err := svc.SaveRule(ctx, lianlu.OfferRule{Name: "tried-ap1", Triggers: []string{"product.tried"}, Condition: triedNotBought,
				Channel: "webhook", WebhookURL: srv.URL, SecretRef: "webhook/" + itoa(wh.ID), Title: "Still thinking about the purifier?", Body: "¥50 off online",
				Coupon: &lianlu.CouponTemplate{ValueOff: 5000, ValidDays: 14}, Cap: lianlu.FrequencyCap{Count: 1, Window: lianlu.Duration(7 * 24 * time.Hour)}, Active: true})
			if err != nil {
				t.Fatal(err)
			}
			inbox, err := svc.SaveRule(ctx, lianlu.OfferRule{Name: "visit-thanks", Triggers: []string{"store.visited"}, Condition: `member.joined_store == "SH-01"`,
				Channel: "inbox", Title: "Thanks for visiting", Active: true})
			if err != nil {
				t.Fatal(err)
			}
			// Amy comes back; the visit thanks her (rules do not reach back
			// to the joins before they existed).
			if _, err := members.RecordInteraction(ctx, lianlu.Interaction{Type: "store.visited", Member: &lianlu.MemberRef{Phone: "13800138000"}, Store: "SH-01"}); err != nil {
				t.Fatal(err)
			}
			if _, err := members.RecordInteraction(ctx, lianlu.Interaction{Type: "store.visited", Member: &lianlu.MemberRef{Phone: "13900139000"}, Store: "SH-01"}); err != nil {
				t.Fatal(err)
			}
			drain := func() {
				t.Helper()
				for {
					n, err := engine.ProcessOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			tried := func(phone, ext string) {
				t.Helper()
				if _, err := members.RecordInteraction(ctx, lianlu.Interaction{Type: "product.tried", Member: &lianlu.MemberRef{Phone: phone}, Store: "SH-01", SKU: "AP-1", ExternalID: ext}); err != nil {
					t.Fatal(err)
				}
			}
			worker := webhook.NewWorker(webhook.Config{Store: sqlstore.NewWebhookService(db), Outbound: svc.Outbound, Now: clk.Now})

			// Amy tried the purifier and has not bought it: the rule fires.
			tried("13800138000", "t1")
			drain()
			sends, _ := svc.FindSends(ctx, amy.Member.ID, rule.ID, 0, 10)
			if len(sends) != 1 || sends[0].Status != "sent" || sends[0].Coupon == "" {
				t.Fatalf("sends: %+v", sends)
			}
			if _, err := worker.ProcessDue(ctx); err != nil {
				t.Fatal(err)
			}
			if rcv.count() != 1 {
				t.Fatalf("webhook deliveries: %d", rcv.count())
			}
			if err := webhook.VerifyAt(wh.Secret, rcv.heads[0], rcv.bodies[0], 5*time.Minute, clk.Now()); err != nil {
				t.Fatalf("signature: %v", err)
			}
			if rcv.heads[0].Get("webhook-id") != "offer_send_"+itoa(sends[0].ID) {
				t.Fatalf("webhook-id %q", rcv.heads[0].Get("webhook-id"))
			}
			// Marketing's channel sends Amy's number masked.
			if b := string(rcv.bodies[0]); strings.Contains(b, "13800138000") || !strings.Contains(b, `"contacts_masked":true`) {
				t.Fatalf("payload %s", b)
			}
			// A second trigger within the cap sends nothing.
			clk.Add(time.Hour)
			tried("13800138000", "t2")
			drain()
			worker.ProcessDue(ctx)
			sends, _ = svc.FindSends(ctx, amy.Member.ID, rule.ID, 0, 10)
			if len(sends) != 2 || sends[0].Status != "suppressed" || sends[0].Reason != "frequency_cap" || rcv.count() != 1 {
				t.Fatalf("within the cap: %+v, %d deliveries", sends, rcv.count())
			}
			// Without consent, nothing is sent.
			tried("13900139000", "t3")
			drain()
			sends, _ = svc.FindSends(ctx, bea.Member.ID, rule.ID, 0, 10)
			if len(sends) != 1 || sends[0].Reason != "no_consent" {
				t.Fatalf("no consent: %+v", sends)
			}
			worker.ProcessDue(ctx)
			if rcv.count() != 1 {
				t.Fatalf("sent without consent: %d", rcv.count())
			}

			// The coupon pays once for an online order of Amy's.
			amySends, _ := svc.FindSends(ctx, amy.Member.ID, rule.ID, 0, 10)
			code := amySends[1].Coupon
			orders := sqlstore.NewOrderService(db)
			place := func(ext, phone string) (lianlu.Order, error) {
				o, _, err := orders.PlaceOrder(ctx, lianlu.OrderPlacement{ExternalID: ext, Channel: "online", Member: &lianlu.MemberRef{Phone: phone},
					Lines: []lianlu.OrderLine{{SKU: "AP-1", Qty: 1}}, Coupon: code, ShipTo: &lianlu.Address{Address: "上海"}})
				return o, err
			}
			if _, err := place("O-BEA", "13900139000"); lianlu.ErrorCode(err) != lianlu.EINVALID {
				t.Fatalf("another member's coupon: %v", err)
			}
			o, err := place("O-1", "13800138000")
			if err != nil || o.Discount != 5000 || o.Total != 194900 || o.Coupon != code {
				t.Fatalf("redeem: %+v %v", o, err)
			}
			if _, err := place("O-2", "13800138000"); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
				t.Fatalf("second use: %v", err)
			}
			if c, _ := svc.FindCoupon(ctx, code); c.Status != "redeemed" || c.OrderID != o.ID {
				t.Fatalf("coupon: %+v", c)
			}
			tl, _ := members.Timeline(ctx, amy.Member.ID, lianlu.TimelineFilter{Limit: 100})
			kinds := map[string]int{}
			for _, e := range tl {
				kinds[e.Event.Type]++
			}
			if kinds["offer.sent"] != 2 || kinds["offer.redeemed"] != 1 {
				t.Fatalf("timeline: %v", kinds)
			}

			// The inbox rule fired on Amy's visit (Bea did not consent).
			msgs, err := svc.InboxFor(ctx, amy.Member.ID, 10)
			if err != nil || len(msgs) != 1 || msgs[0].Title != "Thanks for visiting" || msgs[0].OfferID != inbox.ID {
				t.Fatalf("inbox: %+v %v", msgs, err)
			}
			if msgs, _ := svc.InboxFor(ctx, bea.Member.ID, 10); len(msgs) != 0 {
				t.Fatalf("inbox without consent: %+v", msgs)
			}

			// A delayed rule judges later: Amy bought meanwhile, so nothing.
			if _, err := svc.SaveRule(ctx, lianlu.OfferRule{Name: "tried-later", Triggers: []string{"product.tried"}, Condition: triedNotBought,
				Delay: lianlu.Duration(48 * time.Hour), Channel: "inbox", Title: "Later", Active: true}); err != nil {
				t.Fatal(err)
			}
			tried("13800138000", "t4")
			drain()
			if n, _ := engine.ScanOnce(ctx); n != 0 {
				t.Fatalf("scanned before the delay: %d", n)
			}
			clk.Add(49 * time.Hour)
			if n, err := engine.ScanOnce(ctx); err != nil || n != 1 {
				t.Fatalf("scan after the delay: %d %v", n, err)
			}
			if msgs, _ := svc.InboxFor(ctx, amy.Member.ID, 10); len(msgs) != 1 {
				t.Fatalf("delayed offer sent although she bought: %+v", msgs)
			}

			// Invalid rules name their fields.
			_, err = svc.SaveRule(ctx, lianlu.OfferRule{Name: "bad", Triggers: []string{"order.shipped"}, Condition: "member.id +", Channel: "sms"})
			fields := map[string]bool{}
			for _, f := range lianlu.ErrorFields(err) {
				fields[f.Field] = true
			}
			for _, f := range []string{"triggers[0]", "condition", "channel", "title"} {
				if !fields[f] {
					t.Errorf("no error for %s: %v", f, lianlu.ErrorFields(err))
				}
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestQuietEnd(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(h, m int) time.Time { return time.Date(2026, 12, 1, h, m, 0, 0, sh) }
	night := lianlu.QuietHours{Start: "22:00", End: "08:00"}
	lunch := lianlu.QuietHours{Start: "12:00", End: "13:30"}
	for _, tc := range []struct {
		q        lianlu.QuietHours
		now, end time.Time
	}{
		{night, at(21, 59), at(21, 59)},
		{night, at(22, 0), at(8, 0).AddDate(0, 0, 1)},
		{night, at(3, 0), at(8, 0)},
		{night, at(8, 0), at(8, 0)},
		{lunch, at(12, 30), at(13, 30)},
		{lunch, at(13, 30), at(13, 30)},
		{lunch, at(11, 0), at(11, 0)},
	} {
		if got := offer.QuietEnd(tc.q, tc.now); !got.Equal(tc.end) {
			t.Errorf("%v at %v: %v, want %v", tc.q, tc.now.Format("15:04"), got, tc.end)
		}
	}
}

// A rule's secret_ref must name an active webhook of marketing's (or the
// admins'); one whose webhook is disabled later drops its sends with a
// reason instead of holding back the other rules.
func TestOffers_SecretRef(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			db, err := sqlstore.Open(context.Background(), sqlstoretest.Options(t, dialect, sqlstore.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: "admin", Role: lianlu.RoleAdmin})
			if _, _, err := sqlstore.NewStoreService(db).CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
				t.Fatal(err)
			}
			if _, err := sqlstore.NewMemberService(db).Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true}); err != nil {
				t.Fatal(err)
			}
			hooks := sqlstore.NewWebhookService(db)
			mkt, err := hooks.CreateWebhook(ctx, webhook.Create{URL: "http://example.invalid/hook", EventTypes: []string{"offer.none"}, Department: lianlu.DeptMarketing})
			if err != nil {
				t.Fatal(err)
			}
			sales, err := hooks.CreateWebhook(ctx, webhook.Create{URL: "http://example.invalid/sales", EventTypes: []string{"offer.none"}, Department: lianlu.DeptSales})
			if err != nil {
				t.Fatal(err)
			}
			engine := offer.NewEngine(db, offer.EngineConfig{})
			svc := offer.NewService(db, engine)
			rule := func(name, ref, channel string) (lianlu.OfferRule, error) {
				r := lianlu.OfferRule{Name: name, Triggers: []string{"store.visited"}, Condition: "true", Channel: channel, Title: "Hello", Active: true}
				if channel == lianlu.OfferWebhook {
					r.WebhookURL, r.SecretRef = "http://example.invalid/send", ref
				}
				return svc.SaveRule(ctx, r)
			}
			for _, ref := range []string{"webhook/999", "webhook/" + itoa(sales.ID)} {
				if _, err := rule("bad", ref, lianlu.OfferWebhook); lianlu.ErrorCode(err) != lianlu.EINVALID || lianlu.ErrorFields(err)[0].Field != "secret_ref" {
					t.Fatalf("secret_ref %s: %v", ref, err)
				}
			}
			hooked, err := rule("hooked", "webhook/"+itoa(mkt.ID), lianlu.OfferWebhook)
			if err != nil {
				t.Fatal(err)
			}
			inbox, err := rule("inbox", "", lianlu.OfferInbox)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hooks.DisableWebhook(ctx, mkt.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := sqlstore.NewMemberService(db).RecordInteraction(ctx, lianlu.Interaction{Type: "store.visited", Member: &lianlu.MemberRef{Phone: "13800138000"}, Store: "SH-01"}); err != nil {
				t.Fatal(err)
			}
			for {
				n, err := engine.ProcessOnce(ctx)
				if err != nil {
					t.Fatalf("a rule with a disabled webhook holds back the batch: %v", err)
				}
				if n == 0 {
					break
				}
			}
			for _, c := range []struct {
				rule           lianlu.OfferRule
				status, reason string
			}{{hooked, lianlu.SendDropped, offer.ReasonChannel}, {inbox, lianlu.SendSent, ""}} {
				sends, err := svc.FindSends(ctx, 0, c.rule.ID, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(sends) != 1 || sends[0].Status != c.status || sends[0].Reason != c.reason {
					t.Errorf("rule %s: sends %+v", c.rule.Name, sends)
				}
			}
		})
	}
}

// TestOffers_ConsentWithdrawn: a withdrawal of marketing consent is
// honoured at once: a trigger that would have produced an offer produces
// none, a send waiting for the end of quiet hours is not delivered, and a
// webhook delivery already queued is stopped; what was sent before stays.
func TestOffers_ConsentWithdrawn(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)} // 12:00 in Shanghai
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{Now: clk.Now})
			ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: "admin", Role: lianlu.RoleAdmin})
			if _, _, err := sqlstore.NewStoreService(db).CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
				t.Fatal(err)
			}
			members := sqlstore.NewMemberService(db)
			amy, err := members.Join(ctx, lianlu.JoinRequest{Store: "SH-01", Phone: "13800138000", Consent: true})
			if err != nil {
				t.Fatal(err)
			}
			hooks := sqlstore.NewWebhookService(db)
			mkt, err := hooks.CreateWebhook(ctx, webhook.Create{URL: "http://example.invalid/hook", EventTypes: []string{"offer.none"}, Department: lianlu.DeptMarketing})
			if err != nil {
				t.Fatal(err)
			}
			engine := offer.NewEngine(db, offer.EngineConfig{})
			svc := offer.NewService(db, engine)
			save := func(r lianlu.OfferRule) lianlu.OfferRule {
				t.Helper()
				r.Triggers, r.Condition, r.Title, r.Active = []string{"store.visited"}, "true", r.Name, true
				r, err := svc.SaveRule(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			inbox := save(lianlu.OfferRule{Name: "visit-inbox", Channel: lianlu.OfferInbox})
			hooked := save(lianlu.OfferRule{Name: "visit-hook", Channel: lianlu.OfferWebhook, WebhookURL: "http://example.invalid/send", SecretRef: "webhook/" + itoa(mkt.ID)})
			quiet := save(lianlu.OfferRule{Name: "visit-quiet", Channel: lianlu.OfferInbox, QuietHours: &lianlu.QuietHours{Start: "11:00", End: "13:00"}, Timezone: "Asia/Shanghai"})
			visit := func() {
				t.Helper()
				if _, err := members.RecordInteraction(ctx, lianlu.Interaction{Type: "store.visited", Member: &lianlu.MemberRef{ID: amy.Member.ID}, Store: "SH-01"}); err != nil {
					t.Fatal(err)
				}
				for {
					n, err := engine.ProcessOnce(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			statuses := func(r lianlu.OfferRule) []string {
				t.Helper()
				sends, err := svc.FindSends(ctx, amy.Member.ID, r.ID, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, s := range sends { // newest first
					out = append(out, s.Status+"/"+s.Reason)
				}
				return out
			}
			offersSent := func() int {
				t.Helper()
				es, err := sqlstore.NewEventService(db).FindEvents(ctx, lianlu.EventFilter{Types: []string{"offer.sent"}, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				return len(es)
			}

			// With her consent, the visit sends the inbox and webhook offers
			// and schedules the quiet one.
			visit()
			if got := fmt.Sprint(statuses(inbox), statuses(hooked), statuses(quiet)); got != "[sent/] [sent/] [scheduled/]" {
				t.Fatalf("before the withdrawal: %s", got)
			}
			if n := offersSent(); n != 2 {
				t.Fatalf("offer.sent: %d", n)
			}
			queued, err := hooks.FindDeliveries(ctx, webhook.DeliveryFilter{Department: lianlu.DeptMarketing, Status: webhook.DeliveryPending})
			if err != nil || len(queued) != 1 || queued[0].EventType != "offer.sent" {
				t.Fatalf("queued deliveries: %+v %v", queued, err)
			}

			// She withdraws.
			m, err := members.SetConsent(ctx, amy.Member.ID, lianlu.Consent{Purpose: lianlu.ConsentMarketing, Granted: false, Channel: "phone"})
			if err != nil || m.HasConsent(lianlu.ConsentMarketing) {
				t.Fatalf("withdraw: %v %+v", err, m.Consents)
			}
			// The queued webhook offer is stopped.
			if d, err := hooks.FindDeliveryByID(ctx, queued[0].ID); err != nil || d.Status != webhook.DeliveryDead || d.LastError != "consent withdrawn" {
				t.Fatalf("queued delivery after the withdrawal: %+v %v", d, err)
			}
			// A trigger that would have produced offers produces none.
			visit()
			if got := fmt.Sprint(statuses(inbox), statuses(hooked)); got != "[suppressed/no_consent sent/] [suppressed/no_consent sent/]" {
				t.Fatalf("after the withdrawal: %s", got)
			}
			// The send waiting for the end of quiet hours is not delivered.
			clk.Add(2 * time.Hour)
			if _, err := engine.ScanOnce(ctx); err != nil {
				t.Fatal(err)
			}
			for _, s := range statuses(quiet) {
				if s != "suppressed/no_consent" {
					t.Fatalf("quiet sends after the withdrawal: %v", statuses(quiet))
				}
			}
			if n := offersSent(); n != 2 {
				t.Fatalf("offer.sent after the withdrawal: %d", n)
			}
			if pending, _ := hooks.FindDeliveries(ctx, webhook.DeliveryFilter{Status: webhook.DeliveryPending}); len(pending) != 0 {
				t.Fatalf("pending deliveries: %+v", pending)
			}
			// What was sent before is kept.
			if msgs, err := svc.InboxFor(ctx, amy.Member.ID, 10); err != nil || len(msgs) != 1 {
				t.Fatalf("inbox: %+v %v", msgs, err)
			}
		})
	}
}
