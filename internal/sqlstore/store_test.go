package sqlstore_test

import (
	"context"
	"slices"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

func storesCtx(*testing.T) *lianlu.Principal {
	return &lianlu.Principal{TokenID: 1, Name: "ops", Department: "stores", Role: lianlu.RoleOperator}
}

func TestStores(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), *storesCtx(t))
		mustCatalog(t, db)
		s := sqlstore.NewStoreService(db)
		changed := s.StoresChanged()
		cap3, radius := 3, 15.0
		st, res, err := s.CreateStore(ctx, lianlu.StoreInput{Code: "ST-SH1", Name: ptr("Shanghai Jing'an"), Lat: f64(31.22), Lng: f64(121.45),
			Hours:  lianlu.OpeningHours{"mon": {{"10:00", "22:00"}}, "sat": {{"10:00", "14:00"}, {"15:00", "20:00"}}},
			Skills: []string{"Install", "repair", "install"}, CapacityPerDay: &cap3, ServiceRadiusKm: &radius,
			Staff: []lianlu.StaffMember{{Code: "E01", Name: "王芳"}, {Code: "E02", Name: "Li Lei"}}})
		if err != nil || res != lianlu.UpsertCreated || st.Kind != "store" || st.CapacityPerDay != 3 || len(st.Staff) != 2 || len(st.Skills) != 2 {
			t.Fatalf("create: %+v %v %v", st, res, err)
		}
		select {
		case <-changed:
		default:
			t.Fatal("StoresChanged not signalled")
		}
		// A PATCH changes only what it names; dropped staff stay, inactive.
		st, err = s.UpdateStore(ctx, lianlu.StoreInput{Code: "ST-SH1", Staff: []lianlu.StaffMember{{Code: "E01", Name: "王芳"}}})
		if err != nil || st.Name != "Shanghai Jing'an" || st.CapacityPerDay != 3 || len(st.Staff) != 2 || !st.Staff[0].Active || st.Staff[1].Active {
			t.Fatalf("update: %+v %v", st, err)
		}
		if _, err := s.UpdateStore(ctx, lianlu.StoreInput{Code: "NOPE"}); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown store: %v", err)
		}
		neg := -1
		_, _, err = s.CreateStore(ctx, lianlu.StoreInput{Code: "ST-X", Name: ptr("X"), Hours: lianlu.OpeningHours{"mon": {{"22:00", "10:00"}}, "funday": {}},
			Skills: []string{"Bad Skill"}, CapacityPerDay: &neg, Staff: []lianlu.StaffMember{{Code: "", Name: ""}}})
		fields := map[string]bool{}
		for _, f := range lianlu.ErrorFields(err) {
			fields[f.Field] = true
		}
		for _, f := range []string{"hours.funday", "skills[0]", "capacity_per_day", "staff[0].code", "staff[0].name"} {
			if !fields[f] {
				t.Fatalf("missing field error %s in %v", f, lianlu.ErrorFields(err))
			}
		}
		if _, _, err := s.CreateStore(ctx, lianlu.StoreInput{Code: "WH-SH", Name: ptr("x")}); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Fatalf("a warehouse code: %v", err)
		}
		if _, _, err := s.CreateStore(ctx, lianlu.StoreInput{Code: "ST-SH1", Name: ptr("x"), Hours: lianlu.OpeningHours{"mon": {{"09:00", "18:00"}, {"17:00", "19:00"}}}}); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("overlapping hours: %v", err)
		}
		got, err := s.FindStores(ctx, lianlu.StoreFilter{Skill: "repair"})
		if err != nil || len(got) != 1 || got[0].Code != "ST-SH1" {
			t.Fatalf("by skill: %+v %v", got, err)
		}
		if got, _ := s.FindStores(ctx, lianlu.StoreFilter{Skill: "fitting"}); len(got) != 0 {
			t.Fatalf("fitting: %+v", got)
		}
		all, fp, err := db.AllStores(ctx)
		if err != nil || len(all) != 1 || fp == "" {
			t.Fatalf("all: %v %q %v", all, fp, err)
		}
		cap5 := 5
		if _, err := s.UpdateStore(ctx, lianlu.StoreInput{Code: "ST-SH1", CapacityPerDay: &cap5}); err != nil {
			t.Fatal(err)
		}
		if fp2, _ := db.StoresFingerprint(ctx); fp2 == fp {
			t.Fatal("fingerprint unchanged by an update")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestStoreUpsertUnchanged(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), *storesCtx(t))
		s := sqlstore.NewStoreService(db)
		in := lianlu.StoreInput{Code: "S1", Name: ptr("One"), Skills: []string{"repair"}, Staff: []lianlu.StaffMember{{Code: "B", Name: "Bo"}, {Code: "A", Name: "Al"}}}
		if _, res, err := s.CreateStore(ctx, in); err != nil || res != lianlu.UpsertCreated {
			t.Fatal(res, err)
		}
		if _, res, err := s.CreateStore(ctx, in); err != nil || res != lianlu.UpsertUnchanged {
			t.Fatalf("same store again: %v %v", res, err)
		}
		in.Name = ptr("Uno")
		if st, res, err := s.CreateStore(ctx, in); err != nil || res != lianlu.UpsertUpdated || st.Name != "Uno" {
			t.Fatalf("changed store: %v %v", res, err)
		}
	})
}

// Member changes that alter prices or merges are audited: a new tier, and
// an identity added as verified.
func TestMembers_AuditedChanges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "ops", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
		members := sqlstore.NewMemberService(db)
		var id int64
		if err := db.WithTx(ctx, func(tx *sqlstore.Tx) (err error) {
			id, _, err = sqlstore.FindOrCreateMemberTx(ctx, tx, lianlu.Identity{Kind: lianlu.IdentityPhone, Value: "+8613800138000"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := members.SaveTier(ctx, lianlu.MemberTier{Tier: "gold", Name: "Gold", DiscountPercent: 5}); err != nil {
			t.Fatal(err)
		}
		actions := func() []string {
			t.Helper()
			entries, err := sqlstore.NewAccessService(db).FindAuditEntries(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range entries {
				if e.TargetType == "member" {
					out = append(out, e.Action)
				}
			}
			return out
		}
		gold, tags := "gold", []string{"vip"}
		if _, err := members.UpdateMember(ctx, id, lianlu.MemberUpdate{Tier: &gold}); err != nil {
			t.Fatal(err)
		}
		if _, err := members.UpdateMember(ctx, id, lianlu.MemberUpdate{Tags: &tags}); err != nil {
			t.Fatal(err)
		}
		if _, err := members.AddIdentity(ctx, id, lianlu.Identity{Kind: lianlu.IdentityUserID, Value: "u-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := members.AddIdentity(ctx, id, lianlu.Identity{Kind: lianlu.IdentityEmail, Value: "li@example.com", Verified: true}); err != nil {
			t.Fatal(err)
		}
		// Newest first: the verified email, then the tier; tags and an
		// unverified id are not audited.
		if got := actions(); !slices.Equal(got, []string{"member.identity_verified", "member.tier_changed"}) {
			t.Fatalf("member audit entries %v", got)
		}
	})
}

// Concurrent updates of different fields of one store all stay.
func TestStores_ConcurrentUpdatesKeepEachField(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(context.Background(), *storesCtx(t))
		stores := sqlstore.NewStoreService(db)
		if _, _, err := stores.CreateStore(ctx, lianlu.StoreInput{Code: "SH-01", Name: ptr("Jing'an")}); err != nil {
			t.Fatal(err)
		}
		updates := []lianlu.StoreInput{
			{Code: "SH-01", Name: ptr("静安店")},
			{Code: "SH-01", Address: ptr("南京西路 1 号")},
			{Code: "SH-01", CapacityPerDay: ptr(7)},
			{Code: "SH-01", ServiceRadiusKm: ptr(42.0)},
			{Code: "SH-01", Skills: []string{"repair"}},
		}
		errs := make(chan error, len(updates))
		for _, u := range updates {
			go func() {
				_, err := stores.UpdateStore(ctx, u)
				errs <- err
			}()
		}
		for range updates {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		st, err := stores.FindStoreByCode(ctx, "SH-01")
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "静安店" || st.Address != "南京西路 1 号" || st.CapacityPerDay != 7 || st.ServiceRadiusKm != 42 || !slices.Equal(st.Skills, []string{"repair"}) {
			t.Fatalf("lost an update: %+v", st)
		}
	})
}
