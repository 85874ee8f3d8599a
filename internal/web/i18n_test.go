package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// TestCatalogues_Complete fails on a key missing in either language, on a
// key the templates or the Go code use that no catalogue has, and on a
// code value (status, kind, department…) that a page translates without a
// message.
func TestCatalogues_Complete(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Languages {
		for _, b := range Languages {
			for k := range cats[a] {
				if _, ok := cats[b][k]; !ok {
					t.Errorf("%q is in %s but not in %s", k, a, b)
				}
			}
		}
	}
	used := map[string]bool{}
	prefixes := map[string]bool{}
	tplKey := regexp.MustCompile(`\bt "([^"]+)"`)
	tplPrefix := regexp.MustCompile(`(?:label|print) "([a-z_.]+\.)"`)
	files, err := templateFiles()
	if err != nil || len(files) < 10 {
		t.Fatalf("templates: %v %v", files, err)
	}
	for _, f := range files {
		b, err := templateFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		for _, m := range tplPrefix.FindAllStringSubmatch(string(b), -1) {
			prefixes[m[1]] = true
		}
	}
	goKey := regexp.MustCompile(`tr\.T\("([^"]+)"`)
	gos, _ := filepath.Glob("*.go")
	for _, f := range gos {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			if strings.HasSuffix(m[1], ".") {
				prefixes[m[1]] = true // tr.T("prefix." + code)
			} else {
				used[m[1]] = true
			}
		}
	}
	if len(used) < 100 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for k := range used {
		for _, lang := range Languages {
			if _, ok := cats[lang][k]; !ok {
				t.Errorf("%q is used but not in the %s catalogue", k, lang)
			}
		}
	}
	// Every code value the pages translate by prefix.
	codes := map[string][]string{
		"dept.":               {lianlu.DeptMarketing, lianlu.DeptSales, lianlu.DeptService, lianlu.DeptSupplyChain, lianlu.DeptProduct, lianlu.DeptStores, lianlu.DeptAdmin},
		"role.":               {"viewer", "operator", "manager", "admin"},
		"channel.":            {lianlu.ChannelOnline, lianlu.ChannelStore},
		"order.status.":       {lianlu.OrderPlaced, lianlu.OrderCancelled},
		"fulfillment.status.": {lianlu.FulfillmentReserved, lianlu.FulfillmentBackordered, lianlu.FulfillmentPicked, lianlu.FulfillmentShipped, lianlu.FulfillmentDelivered, lianlu.FulfillmentCancelled},
		"workorder.status.":   {lianlu.WorkOrderOpen, lianlu.WorkOrderAccepted, lianlu.WorkOrderResolved},
		"workorder.kind.":     lianlu.WorkOrderKinds,
		"priority.":           lianlu.Priorities,
		"handoff.status.":     {lianlu.HandoffPending, lianlu.HandoffOpen, lianlu.HandoffDone, lianlu.HandoffFailed, lianlu.HandoffCancelled},
		"feedback.status.":    {lianlu.FeedbackOpen, lianlu.FeedbackClosed},
		"cause.":              {"upstream_sync", "pickup", "work"},
		"rule.":               {sqlstore.RuleStore, sqlstore.RuleNearestInStock, sqlstore.RuleFirstInStock, sqlstore.RuleBackordered},
		"sources.kind.":       lianlu.SourceKinds,
		"resolution.":         ResolutionCodes,
		"queue.done.":         queueDone,
		"contact.":            lianlu.ContactChannels,
		"weekday.":            lianlu.Weekdays,
		"skill.":              {lianlu.SkillInstall, lianlu.SkillRepair, lianlu.SkillFitting},
		"attempt.":            {lianlu.AttemptPending, lianlu.AttemptAccepted, lianlu.AttemptRejected, lianlu.AttemptTimedOut},
		"dispatch.reason.":    {lianlu.ExcludedInactive, lianlu.ExcludedNoLocation, lianlu.ExcludedSkill, lianlu.ExcludedClosed, lianlu.ExcludedFull, lianlu.ExcludedRadius, lianlu.ExcludedTried},
		"conflict.done.":      {"merged", "dismissed"},
		"identity.kind.":      lianlu.IdentityKinds,
		"consent.":            {lianlu.ConsentMarketing},
		"consent.channel.":    {"store_qr", "online"},
		"tl.kind.":            timelineKinds,
		"send.status.":        {lianlu.SendScheduled, lianlu.SendSent, lianlu.SendSuppressed, lianlu.SendDropped},
		"send.reason.":        {offer.ReasonNoConsent, offer.ReasonFrequencyCap, offer.ReasonCondition, offer.ReasonRuleInactive, offer.ReasonChannel},
		"coupon.status.":      {lianlu.CouponIssued, lianlu.CouponRedeemed},
		"offers.channel.":     {lianlu.OfferInbox, lianlu.OfferWebhook},
		"event.":              {"member.created", "member.joined", "member.consented", "member.merged", "member.identity_added", "member.conflict_detected", "member.updated", "store.visited", "product.tried", "staff.consulted", "segment.track", "segment.page", "segment.screen", "segment.identify", "segment.alias", "order.placed", "order.cancelled", "order.paid", "workorder.created", "workorder.accepted", "workorder.resolved", "workorder.reassigned", "feedback.submitted", "feedback.closed", "offer.sent", "offer.redeemed", "handoff.opened", "handoff.done", "handoff.breached", "handoff.failed", "handoff.cancelled"},
		"error.":              {"400.title", "400.text", "401.title", "401.text", "403.title", "403.text", "404.title", "404.text", "409.title", "409.text", "413.title", "413.text", "500.title", "500.text", "503.title", "503.text"},
		"problem.":            {"noise", "installation", "delivery_late", "delivery_damage", "not_cooling", "water_leak", "app_connectivity", "missing_parts", "heating_slow", "praise"},
	}
	// Timeline facts name their label keys in Go.
	for _, k := range factKeys {
		used[k.label] = true
	}
	used["fact.campaign"], used["fact.coupon"] = true, true
	for p := range prefixes {
		if _, ok := codes[p]; !ok && p != "error." {
			t.Errorf("templates translate the prefix %q, but this test does not know its codes", p)
		}
	}
	for prefix, values := range codes {
		for _, v := range values {
			for _, lang := range Languages {
				if _, ok := cats[lang][prefix+v]; !ok {
					t.Errorf("no %s message for %s%s", lang, prefix, v)
				}
			}
		}
	}
}
