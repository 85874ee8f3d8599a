package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
)

// An offer rule fires for a member who tried a product in a store and did
// not buy it; the offer shows in her inbox on the join page; its coupon
// pays once for an online order and a second use is 409. A price tier
// gives the same discount in a store and online.
func TestE2E_OfferInboxCouponAndTier(t *testing.T) {
	m := MustRunMain(t)
	a := api{t: t, base: "http://" + m.Addr(), token: adminToken(t, m.Config.DataDir)}
	a.must("POST", "/api/v1/products", map[string]any{"sku": "AP-1", "name": "Air purifier", "category": "air", "price": "1999.00"}, 201, nil)
	a.must("POST", "/api/v1/stores", map[string]any{"code": "SH-01", "name": "上海静安店"}, 201, nil)
	a.must("POST", "/api/v1/inventory/adjustments", map[string]any{"sku": "AP-1", "location": "SH-01", "delta": 10, "reason": "receipt"}, 201, nil)
	var tok struct {
		Token string `json:"token"`
	}
	a.must("POST", "/api/v1/tokens", map[string]any{"name": "crm", "department": "marketing", "role": "manager"}, 201, &tok)
	mkt := api{t: t, base: a.base, token: tok.Token}
	var rule lianlu.OfferRule
	mkt.must("POST", "/api/v1/offers", map[string]any{"name": "tried-ap1", "triggers": []string{"product.tried"},
		"condition": `events.exists(e, e.type == "product.tried" && e.data.sku == "AP-1") && !events.exists(e, e.type == "order.placed" && e.data.lines.exists(l, l.sku == "AP-1"))`,
		"channel":   "inbox", "title": "净化器会员专享", "body": "线上下单立减 50 元", "coupon": map[string]any{"value_off": "50.00", "valid_days": 14},
		"frequency_cap": map[string]any{"count": 1, "window": "7d"}}, 201, &rule)

	joinURL := a.base + "/j/SH-01"
	her := newVisitor(t)
	if status, body := her.join(joinURL, "13800138000", true); status != 200 || !strings.Contains(body, "暂无优惠") {
		t.Fatalf("join: %d %s", status, body)
	}
	a.must("POST", "/api/v1/interactions", map[string]any{"type": "product.tried", "member": map[string]any{"phone": "13800138000"}, "store": "SH-01", "sku": "AP-1"}, 201, nil)
	var sends struct{ Items []lianlu.OfferSend }
	for deadline := time.Now().Add(20 * time.Second); len(sends.Items) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no offer sent")
		}
		a.must("GET", fmt.Sprintf("/api/v1/offer-sends?rule=%d", rule.ID), nil, 200, &sends)
	}
	if sends.Items[0].Status != "sent" || sends.Items[0].Coupon == "" {
		t.Fatalf("send: %+v", sends.Items[0])
	}
	code := sends.Items[0].Coupon
	// On the phone she joined with, the join page shows her the offer.
	status, body := her.join(joinURL, "13800138000", false)
	if status != 200 || !strings.Contains(body, "净化器会员专享") || !strings.Contains(body, code) {
		t.Fatalf("inbox on the join page: %d %s", status, body)
	}
	// Opening the page again in her browser shows the inbox without posting.
	if res, err := her.client.Get(joinURL); err != nil {
		t.Fatal(err)
	} else {
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(page), code) {
			t.Fatalf("her browser's join page has no inbox: %s", page)
		}
	}
	// Another browser that types her number records a visit but sees
	// neither the offer nor its code.
	status, body = newVisitor(t).join(joinURL, "13800138000", false)
	if status != 200 || strings.Contains(body, "净化器会员专享") || strings.Contains(body, code) || !strings.Contains(body, "首次加入") {
		t.Fatalf("another browser sees her inbox: %d %s", status, body)
	}
	if !regexp.MustCompile(`LL-[0-9A-Z]{10}`).MatchString(code) {
		t.Fatalf("coupon code %q", code)
	}
	order := func(ext, channel string, coupon string) (int, []byte) {
		body := map[string]any{"external_id": ext, "channel": channel, "member": map[string]any{"phone": "13800138000"},
			"lines": []any{map[string]any{"sku": "AP-1", "qty": 1}}, "coupon": coupon}
		if channel == "online" {
			body["ship_to"] = map[string]any{"address": "上海市静安区"}
		} else {
			body["store"] = "SH-01"
		}
		return a.call("POST", "/api/v1/orders", "application/json", body)
	}
	if status, out := order("WEB-1", "online", code); status != 201 || !strings.Contains(string(out), `"discount":"50.00"`) || !strings.Contains(string(out), `"total":"1949.00"`) {
		t.Fatalf("redeem: %d %s", status, out)
	}
	if status, out := order("WEB-2", "online", code); status != 409 || !strings.Contains(string(out), `"field":"coupon"`) {
		t.Fatalf("second use: %d %s", status, out)
	}

	// Price tier: 10 % off for gold members, the same in a store and online.
	a.must("PUT", "/api/v1/member-tiers/gold", map[string]any{"name": "Gold", "discount_percent": 10}, 200, nil)
	var found struct{ Items []lianlu.Member }
	a.must("GET", "/api/v1/members?phone=13800138000", nil, 200, &found)
	a.must("PATCH", fmt.Sprintf("/api/v1/members/%d", found.Items[0].ID), map[string]any{"tier": "gold"}, 200, nil)
	var online, store lianlu.Order
	for _, o := range []struct {
		ext, channel string
		dst          *lianlu.Order
	}{{"WEB-3", "online", &online}, {"POS-1", "store", &store}} {
		status, out := order(o.ext, o.channel, "")
		if status != 201 {
			t.Fatalf("%s order: %d %s", o.channel, status, out)
		}
		var list struct{ Items []lianlu.Order }
		a.must("GET", "/api/v1/orders?channel="+o.channel, nil, 200, &list)
		*o.dst = list.Items[len(list.Items)-1]
	}
	if online.Discount != 19990 || store.Discount != online.Discount || store.Total != online.Total {
		t.Fatalf("tier: online %+v, store %+v", online, store)
	}
}
