package offer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/offer"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// sentPayload sends m through the webhook channel and returns the body the
// delivery will POST.
func sentPayload(t *testing.T, db *sqlstore.DB, m offer.Message) (string, offer.WebhookPayload) {
	t.Helper()
	ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "system:offers", Department: lianlu.DeptMarketing, Role: lianlu.RoleOperator})
	if err := db.WithTx(ctx, func(tx *sqlstore.Tx) error { return offer.Webhook{}.Send(ctx, tx, m) }); err != nil {
		t.Fatal(err)
	}
	claims, err := sqlstore.NewWebhookService(db).ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("claimed %d deliveries, %v", len(claims), err)
	}
	var p offer.WebhookPayload
	if err := json.Unmarshal(claims[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	return string(claims[0].Payload), p
}

// Offers are marketing's, and marketing does not see members' contacts:
// what its webhook channel sends out carries them masked, unless an admin
// allowed the rule to carry them.
func TestWebhookChannel_FollowsMarketingsDataPolicy(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{})
			if lianlu.SeesMemberPII(lianlu.Principal{Department: lianlu.DeptMarketing, Role: lianlu.RoleManager}) {
				t.Fatal("the test assumes marketing does not see members' PII")
			}
			m := offer.Message{SendID: 7, At: time.Now().UTC(),
				Rule:   lianlu.OfferRule{ID: 3, Name: "welcome", Channel: lianlu.OfferWebhook, WebhookURL: "https://sms.example.com/send", Title: "Hi"},
				Member: lianlu.Member{ID: 42, Phone: "+8613800138000", Email: "amy.lin@example.com"}}

			body, p := sentPayload(t, db, m)
			if strings.Contains(body, "13800138000") || strings.Contains(body, "amy.lin") {
				t.Fatalf("contacts in clear in %s", body)
			}
			if p.Member.ID != 42 || p.Member.Phone != "+86138****8000" || p.Member.Email != "a***@example.com" || !p.Member.ContactsMasked {
				t.Fatalf("member %+v", p.Member)
			}

			m.SendID, m.Rule.AllowContacts = 8, true
			body, p = sentPayload(t, db, m)
			if p.Member.Phone != "+8613800138000" || p.Member.Email != "amy.lin@example.com" || p.Member.ContactsMasked {
				t.Fatalf("with contacts allowed: %s", body)
			}
		})
	}
}

// Only an admin lets a rule carry members' contacts, audited; a marketing
// manager may keep or drop the setting but not grant it, nor point an
// allowed rule at another URL.
func TestOffers_AllowContactsIsAdminOnly(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{})
			admin := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin})
			mkt := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 2, Name: "crm", Department: lianlu.DeptMarketing, Role: lianlu.RoleManager})
			svc := offer.NewService(db, nil)
			r := lianlu.OfferRule{Name: "welcome", Triggers: []string{"member.joined"}, Condition: "true", Channel: lianlu.OfferWebhook,
				WebhookURL: "https://sms.example.com/send", Title: "Hi", Active: true, AllowContacts: true}

			if _, err := svc.SaveRule(mkt, r); lianlu.ErrorCode(err) != lianlu.EFORBIDDEN {
				t.Fatalf("marketing grants allow_contacts on a new rule: %v", err)
			}
			r.AllowContacts = false
			saved, err := svc.SaveRule(mkt, r)
			if err != nil || saved.AllowContacts {
				t.Fatalf("save: %+v %v", saved, err)
			}
			saved.AllowContacts = true
			if _, err := svc.SaveRule(mkt, saved); lianlu.ErrorCode(err) != lianlu.EFORBIDDEN {
				t.Fatalf("marketing grants allow_contacts: %v", err)
			}
			if saved, err = svc.SaveRule(admin, saved); err != nil || !saved.AllowContacts {
				t.Fatalf("admin grants: %+v %v", saved, err)
			}
			if got, _ := svc.FindRule(admin, saved.ID); !got.AllowContacts {
				t.Fatalf("stored %+v", got)
			}
			// Marketing edits the text and keeps the setting; it may not
			// send the contacts somewhere else.
			saved.Title = "Welcome!"
			if saved, err = svc.SaveRule(mkt, saved); err != nil || !saved.AllowContacts {
				t.Fatalf("marketing keeps it: %+v %v", saved, err)
			}
			moved := saved
			moved.WebhookURL = "https://collector.example.net/"
			if _, err := svc.SaveRule(mkt, moved); lianlu.ErrorCode(err) != lianlu.EFORBIDDEN {
				t.Fatalf("marketing moves an allowed rule's URL: %v", err)
			}
			moved.AllowContacts = false
			if saved, err = svc.SaveRule(mkt, moved); err != nil || saved.AllowContacts {
				t.Fatalf("marketing drops the setting with the move: %+v %v", saved, err)
			}
			inbox := lianlu.OfferRule{Name: "inbox", Triggers: []string{"member.joined"}, Condition: "true", Channel: lianlu.OfferInbox, Title: "Hi", AllowContacts: true}
			if _, err := svc.SaveRule(admin, inbox); lianlu.ErrorCode(err) != lianlu.EINVALID || lianlu.ErrorFields(err)[0].Field != "allow_contacts" {
				t.Fatalf("allow_contacts on the inbox: %v", err)
			}

			entries, err := sqlstore.NewAccessService(db).FindAuditEntries(admin, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range entries {
				if strings.HasPrefix(e.Action, "offer_rule.contacts_") {
					actions = append(actions, e.Action+" by "+e.Actor)
					if !strings.Contains(e.Detail, "sms.example.com") && !strings.Contains(e.Detail, "collector.example.net") {
						t.Errorf("audit detail %s does not name the URL", e.Detail)
					}
				}
			}
			if strings.Join(actions, ", ") != "offer_rule.contacts_disallowed by token:crm, offer_rule.contacts_allowed by token:ops" {
				t.Fatalf("audit %v", actions)
			}
		})
	}
}
