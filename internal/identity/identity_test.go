package identity_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/identity"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		target, holder bool
		want           identity.Decision
	}{
		{true, true, identity.Decision{}},
		{true, false, identity.Decision{Merge: true, IntoTarget: true}},
		{false, true, identity.Decision{Merge: true, IntoTarget: false}},
		{false, false, identity.Decision{Merge: true, IntoTarget: true}},
	} {
		if got := identity.Decide(tc.target, tc.holder); got != tc.want {
			t.Errorf("Decide(%v, %v) = %+v, want %+v", tc.target, tc.holder, got, tc.want)
		}
	}
}

func forEachDialect(t *testing.T, f func(t *testing.T, db *sqlstore.DB)) {
	for _, d := range sqlstoretest.Dialects {
		t.Run(d, func(t *testing.T) { f(t, sqlstoretest.MustOpen(t, d, sqlstore.Options{})) })
	}
}

// segment appends a collector message as the collector stores it.
func segment(t *testing.T, db *sqlstore.DB, id, typ string, msg map[string]any) {
	t.Helper()
	msg["type"] = typ
	b, _ := json.Marshal(msg)
	subject := "anon/" + fmt.Sprint(msg["anonymousId"])
	if u, ok := msg["userId"]; ok {
		subject = "user/" + fmt.Sprint(u)
	}
	if _, err := sqlstore.NewEventService(db).AppendEvents(context.Background(), []lianlu.Event{{ID: id, Source: "segment:1", Type: "segment." + typ,
		Subject: subject, Department: "marketing", Data: b}}); err != nil {
		t.Fatal(err)
	}
}

func drain(t *testing.T, r *identity.Resolver) {
	t.Helper()
	for {
		n, err := r.ProcessOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func TestResolver(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{TokenID: 1, Name: "ops", Department: "stores", Role: lianlu.RoleOperator})
		members := sqlstore.NewMemberService(db)
		stores := sqlstore.NewStoreService(db)
		if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: "S1", Name: ptr("Store 1"), Staff: []lianlu.StaffMember{{Code: "E1", Name: "Amy"}}}); err != nil {
			t.Fatal(err)
		}
		r := identity.NewResolver(db, identity.Config{})

		// Anonymous touches, then an identify with the member's phone.
		joined, err := members.Join(ctx, lianlu.JoinRequest{Store: "S1", Staff: "E1", Phone: "138 0013 8000", Consent: true})
		if err != nil || !joined.First || joined.Member.JoinedStore != "S1" || joined.Member.JoinedStaff != "E1" || !joined.Member.HasConsent("marketing") {
			t.Fatalf("join: %+v %v", joined, err)
		}
		alice := joined.Member.ID
		segment(t, db, "m1", "track", map[string]any{"anonymousId": "dev-1", "event": "Viewed Product"})
		segment(t, db, "m2", "page", map[string]any{"anonymousId": "dev-1", "name": "Home"})
		segment(t, db, "m3", "identify", map[string]any{"anonymousId": "dev-1", "userId": "u-alice", "traits": map[string]any{"phone": "+8613800138000"}})
		drain(t, r)
		m, err := members.FindMemberByIdentity(ctx, "anonymous_id", "", "dev-1")
		if err != nil || m.ID != alice {
			t.Fatalf("anonymousId not linked: %+v %v", m, err)
		}
		tl, err := members.Timeline(ctx, alice, lianlu.TimelineFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, e := range tl {
			kinds[e.Kind]++
		}
		if kinds["touch"] != 3 || kinds["visit"] != 1 {
			t.Fatalf("timeline kinds %v", kinds)
		}

		// A second verified member; a call that ties her to alice's userId
		// is a conflict, not a merge.
		bob, err := members.Join(ctx, lianlu.JoinRequest{Store: "S1", Phone: "13900139000"})
		if err != nil {
			t.Fatal(err)
		}
		segment(t, db, "m4", "identify", map[string]any{"userId": "u-alice", "traits": map[string]any{"phone": "13900139000"}})
		drain(t, r)
		cs, err := members.FindConflicts(ctx, "open", 0, 10)
		if err != nil || len(cs) != 1 || cs[0].MemberA != alice || cs[0].MemberB != bob.Member.ID {
			t.Fatalf("conflicts: %+v %v", cs, err)
		}
		if m, _ := members.FindMemberByID(ctx, bob.Member.ID); m.MergedInto != 0 {
			t.Fatal("verified members merged automatically")
		}
		// A replayed batch changes nothing: the resolver is exactly-once.
		if err := db.ResetSubscription(ctx, identity.SubscriptionName, 0); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		if cs, _ := members.FindConflicts(ctx, "", 0, 10); len(cs) != 1 {
			t.Fatalf("replay recorded again: %+v", cs)
		}

		// A userId-only member (unverified) is merged into the verified
		// member an alias ties her to.
		segment(t, db, "m5", "identify", map[string]any{"userId": "u-carol", "traits": map[string]any{"name": "Carol"}})
		drain(t, r)
		carol, err := members.FindMemberByIdentity(ctx, "user_id", "", "u-carol")
		if err != nil || carol.ID == alice {
			t.Fatalf("carol: %+v %v", carol, err)
		}
		segment(t, db, "m6", "alias", map[string]any{"previousId": "u-carol", "userId": "u-alice"})
		drain(t, r)
		if m, _ := members.FindMemberByID(ctx, carol.ID); m.MergedInto != alice {
			t.Fatalf("carol not merged into alice: %+v", m)
		}
		a, _ := members.FindMemberByID(ctx, alice)
		if len(a.Merges) != 1 || !a.Merges[0].Automatic || a.Merges[0].From != carol.ID {
			t.Fatalf("merges on profile: %+v", a.Merges)
		}

		// An operator merges bob into alice: his identities, orders and
		// consents move; the conflict closes; it is audited.
		if _, _, err := sqlstore.NewCatalogService(db).UpsertProduct(ctx, lianlu.Product{SKU: "P1", Name: "P", Category: "c", Price: 100, Active: true}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sqlstore.NewOrderService(db).PlaceOrder(ctx, lianlu.OrderPlacement{ExternalID: "O1", Channel: "store", Store: "S1",
			Member: &lianlu.MemberRef{Phone: "13900139000"}, Lines: []lianlu.OrderLine{{SKU: "P1", Qty: 1}}}); err != nil {
			t.Fatal(err)
		}
		merged, err := members.MergeMembers(ctx, alice, bob.Member.ID, "same person, confirmed by phone call")
		if err != nil {
			t.Fatal(err)
		}
		phones := 0
		for _, i := range merged.Identities {
			if i.Kind == "phone" {
				phones++
			}
		}
		if phones != 2 || merged.Phone != "+8613800138000" {
			t.Fatalf("identities after merge: %+v", merged)
		}
		if os, _ := sqlstore.NewOrderService(db).FindOrders(ctx, lianlu.OrderFilter{MemberID: alice}); len(os) != 1 {
			t.Fatalf("orders did not move: %+v", os)
		}
		if cs, _ := members.FindConflicts(ctx, "open", 0, 10); len(cs) != 0 {
			t.Fatalf("conflict still open: %+v", cs)
		}
		audit, _ := sqlstore.NewAccessService(db).FindAuditEntries(ctx, 0, 10)
		found := false
		for _, e := range audit {
			found = found || (e.Action == "member.merged" && e.TargetID == fmt.Sprint(alice) && e.Actor == "token:ops")
		}
		if !found {
			t.Fatalf("merge not audited: %+v", audit)
		}
		if _, err := members.MergeMembers(ctx, alice, bob.Member.ID, ""); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("second merge: %v", err)
		}
		// The order placed by bob's phone now resolves to alice.
		if m, err := members.FindMemberByIdentity(ctx, "phone", "", "13900139000"); err != nil || m.ID != alice {
			t.Fatalf("phone after merge: %+v %v", m, err)
		}
		// Identities given by an operator: a WeChat unionid, an external id;
		// one another member holds is refused.
		withIDs, err := members.AddIdentity(ctx, alice, lianlu.Identity{Kind: "wechat_unionid", Value: "oU_alice_123456", Verified: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := members.AddIdentity(ctx, alice, lianlu.Identity{Kind: "external", Namespace: "crm", Value: "C-77"}); err != nil {
			t.Fatal(err)
		}
		if m, err := members.FindMemberByIdentity(ctx, "external", "crm", "C-77"); err != nil || m.ID != alice || len(m.Identities) != len(withIDs.Identities)+1 {
			t.Fatalf("external id: %+v %v", m, err)
		}
		if _, err := members.AddIdentity(ctx, alice, lianlu.Identity{Kind: "external", Value: "C-78"}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("external id without namespace: %v", err)
		}
		dan, err := members.Join(ctx, lianlu.JoinRequest{Store: "S1", Phone: "13700137000"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := members.AddIdentity(ctx, dan.Member.ID, lianlu.Identity{Kind: "wechat_unionid", Value: "oU_alice_123456"}); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("an identity another member holds: %v", err)
		}
		// Joining again is a visit, not a new member.
		again, err := members.Join(ctx, lianlu.JoinRequest{Store: "S1", Phone: "+86 138-0013-8000"})
		if err != nil || again.First || again.Member.ID != alice {
			t.Fatalf("second join: %+v %v", again, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestResolver_IgnoresForgedSignals: an identify or alias that reached the
// log past the intake from a source that is not the collector's links no
// identity and creates no member; the collector's own does.
func TestResolver_IgnoresForgedSignals(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		r := identity.NewResolver(db, identity.Config{})
		msg := func(user, phone string) []byte {
			b, _ := json.Marshal(map[string]any{"type": "identify", "userId": user, "traits": map[string]any{"phone": phone}})
			return b
		}
		held := func(kind, value string) int64 {
			t.Helper()
			var id int64
			err := db.WithTx(ctx, func(tx *sqlstore.Tx) error {
				var err error
				id, err = sqlstore.MemberIDByIdentityTx(ctx, tx, kind, "", value)
				if lianlu.ErrorCode(err) == lianlu.ENOTFOUND {
					return nil
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		if _, err := sqlstore.NewEventService(db).AppendEvents(ctx, []lianlu.Event{
			{ID: "f-1", Source: "crm", Type: "segment.identify", Subject: "user/u-forged", Department: lianlu.DeptMarketing, Data: msg("u-forged", "13800138000")},
			{ID: "f-2", Source: "crm", Type: "segment.alias", Subject: "user/u-forged", Department: lianlu.DeptMarketing,
				Data: []byte(`{"type":"alias","userId":"u-forged","previousId":"a-1"}`)},
		}); err != nil {
			t.Fatal(err)
		}
		drain(t, r)
		if id := held(lianlu.IdentityUserID, "u-forged"); id != 0 {
			t.Fatalf("a forged identify made member %d", id)
		}
		phone, err := sqlstore.NormalizeIdentity(lianlu.IdentityPhone, "", "13800138000", db.PhoneRegion())
		if err != nil {
			t.Fatal(err)
		}
		if id := held(lianlu.IdentityPhone, phone); id != 0 {
			t.Fatalf("a forged identify linked the phone to member %d", id)
		}
		segment(t, db, "ok-1", "identify", map[string]any{"userId": "u-real", "traits": map[string]any{"phone": "13900139000"}})
		drain(t, r)
		if held(lianlu.IdentityUserID, "u-real") == 0 {
			t.Fatal("the collector's identify made no member")
		}
	})
}
