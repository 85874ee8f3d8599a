package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

func TestAccess_Tokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "cli", Role: lianlu.RoleAdmin})
		s := sqlstore.NewAccessService(db)

		depts, err := s.FindDepartments(ctx)
		if err != nil || len(depts) != 7 {
			t.Fatalf("departments = %v, %v", depts, err)
		}
		tok, secret, err := s.CreateToken(ctx, lianlu.TokenCreate{Name: "pos sync", Department: "stores", Role: lianlu.RoleOperator})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, sqlstore.TokenPrefix) || len(secret) < 40 || !strings.HasPrefix(secret, tok.Prefix) {
			t.Fatalf("secret %q prefix %q", secret, tok.Prefix)
		}
		p, err := s.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if p.TokenID != tok.ID || p.Department != "stores" || p.Role != lianlu.RoleOperator || p.IsAdmin() {
			t.Fatalf("principal = %+v", p)
		}
		for _, bad := range []string{"", "llt_nope", secret + "x", strings.ToUpper(secret)} {
			if _, err := s.Authenticate(ctx, bad); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
				t.Errorf("Authenticate(%q) = %v", bad, err)
			}
		}
		toks, err := s.FindTokens(ctx, false)
		if err != nil || len(toks) != 1 || toks[0].LastUsedAt == nil {
			t.Fatalf("tokens = %+v, %v", toks, err)
		}
		if err := s.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, tok.ID); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Errorf("second revoke = %v", err)
		}
		if err := s.RevokeToken(ctx, 12345); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Errorf("revoke unknown = %v", err)
		}
		if _, err := s.Authenticate(ctx, secret); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
			t.Errorf("revoked token authenticated: %v", err)
		}
		if toks, _ := s.FindTokens(ctx, false); len(toks) != 0 {
			t.Errorf("revoked token listed: %+v", toks)
		}
		if toks, _ := s.FindTokens(ctx, true); len(toks) != 1 || toks[0].RevokedAt == nil {
			t.Errorf("with revoked: %+v", toks)
		}

		_, _, err = s.CreateToken(ctx, lianlu.TokenCreate{Name: "", Department: "nope", Role: "god"})
		if lianlu.ErrorCode(err) != lianlu.EINVALID || len(lianlu.ErrorFields(err)) != 2 {
			t.Errorf("invalid token create = %v %v", err, lianlu.ErrorFields(err))
		}
		_, _, err = s.CreateToken(ctx, lianlu.TokenCreate{Name: "x", Department: "nope", Role: lianlu.RoleViewer})
		if f := lianlu.ErrorFields(err); len(f) != 1 || f[0].Field != "department" {
			t.Errorf("unknown department = %v", err)
		}

		audit, err := s.FindAuditEntries(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) != 2 || audit[0].Action != "token.revoked" || audit[1].Action != "token.created" || audit[1].Actor != "cli" {
			t.Errorf("audit = %+v", audit)
		}
		if strings.Contains(audit[1].Detail, secret) {
			t.Error("audit entry contains the secret")
		}
	})
}

func TestAccess_Users(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		s := sqlstore.NewAccessService(db)
		u, err := s.CreateUser(ctx, lianlu.User{Username: "li.na", Department: "service", Role: lianlu.RoleManager})
		if err != nil || u.ID == 0 || u.DisplayName != "li.na" {
			t.Fatalf("user = %+v, %v", u, err)
		}
		if _, err := s.CreateUser(ctx, lianlu.User{Username: "li.na", Department: "service", Role: lianlu.RoleViewer}); lianlu.ErrorCode(err) != lianlu.ECONFLICT {
			t.Errorf("duplicate user = %v", err)
		}
		if _, err := s.CreateUser(ctx, lianlu.User{Username: "Bad Name", Department: "x", Role: "x"}); len(lianlu.ErrorFields(err)) != 2 {
			t.Errorf("invalid user = %v", lianlu.ErrorFields(err))
		}
		users, err := s.FindUsers(ctx)
		if err != nil || len(users) != 1 {
			t.Fatalf("users = %v, %v", users, err)
		}
	})
}

// Completed keys are forgotten after IdempotencyTTL, with whatever
// response they kept (records of earlier versions held secrets).
func TestDeleteExpiredIdempotencyKeys(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			db := sqlstoretest.MustOpen(t, dialect, sqlstore.Options{Now: func() time.Time { return now }})
			ctx := ctxT(t)
			for _, k := range []string{"old", "new"} {
				if _, ok, err := db.ReserveIdempotencyKey(ctx, "token:1", k, "POST", "/api/v1/tokens", "h"); err != nil || !ok {
					t.Fatalf("reserve %s: %v %v", k, ok, err)
				}
				if err := db.CompleteIdempotencyKey(ctx, "token:1", k, 201, "application/json", []byte(`{"token":"llt_x"}`)); err != nil {
					t.Fatal(err)
				}
				now = now.Add(sqlstore.IdempotencyTTL / 2)
			}
			now = now.Add(time.Minute) // "old" is a day and a minute old, "new" half a day
			if n, err := db.DeleteExpiredIdempotencyKeys(ctx); err != nil || n != 1 {
				t.Fatalf("deleted %d, %v", n, err)
			}
			if rec, ok, err := db.ReserveIdempotencyKey(ctx, "token:1", "new", "POST", "/api/v1/tokens", "h"); err != nil || ok || !rec.Done {
				t.Fatalf("the unexpired key: %+v %v %v", rec, ok, err)
			}
		})
	}
}

func TestIdempotencyKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		_, ok, err := db.ReserveIdempotencyKey(ctx, "token:1", "k1", "POST", "/api/v1/events", "h1")
		if err != nil || !ok {
			t.Fatalf("reserve = %v, %v", ok, err)
		}
		rec, ok, err := db.ReserveIdempotencyKey(ctx, "token:1", "k1", "POST", "/api/v1/events", "h1")
		if err != nil || ok || rec.Done {
			t.Fatalf("in-progress key = %+v, %v, %v", rec, ok, err)
		}
		// Another principal's key is separate.
		if _, ok, _ := db.ReserveIdempotencyKey(ctx, "token:2", "k1", "POST", "/x", "h"); !ok {
			t.Fatal("keys are per principal")
		}
		if err := db.CompleteIdempotencyKey(ctx, "token:1", "k1", 201, "application/json", []byte(`{"a":1}`)); err != nil {
			t.Fatal(err)
		}
		rec, ok, err = db.ReserveIdempotencyKey(ctx, "token:1", "k1", "POST", "/api/v1/events", "h1")
		if err != nil || ok || !rec.Done || rec.Status != 201 || string(rec.Body) != `{"a":1}` || rec.RequestHash != "h1" {
			t.Fatalf("done key = %+v, %v, %v", rec, ok, err)
		}
		// A released (failed) key can be retried.
		if err := db.ReleaseIdempotencyKey(ctx, "token:2", "k1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.ReserveIdempotencyKey(ctx, "token:2", "k1", "POST", "/x", "h"); !ok {
			t.Fatal("released key not reservable")
		}
	})
}
