package sqlstore_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// fastParams keep argon2id cheap in tests.
var fastParams = access.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestSessions_LoginLogoutExpiry(t *testing.T) {
	forEachDialectClock(t, func(t *testing.T, db *sqlstore.DB, clock *whClock) {
		ctx := lianlu.NewContextWithPrincipal(ctxT(t), lianlu.Principal{Name: "cli", Role: lianlu.RoleAdmin})
		users := sqlstore.NewAccessService(db)
		s := sqlstore.NewSessionService(db)
		s.Params = fastParams
		if _, err := users.CreateUser(ctx, lianlu.User{Username: "li.wei", Department: "service", Role: lianlu.RoleOperator}); err != nil {
			t.Fatal(err)
		}
		// No password yet: nobody signs in, and the error does not say why.
		if _, _, _, err := s.Login(ctx, "li.wei", "", time.Hour); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
			t.Fatalf("login without a password = %v", err)
		}
		if err := s.SetPassword(ctx, "li.wei", "short"); lianlu.ErrorCode(err) != lianlu.EINVALID {
			t.Fatalf("short password = %v", err)
		}
		if err := s.SetPassword(ctx, "nobody", "long enough password"); lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			t.Fatalf("unknown user = %v", err)
		}
		if err := s.SetPassword(ctx, "li.wei", "long enough password"); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := queryRow(t, db, `SELECT password_hash FROM users WHERE username = ?`, "li.wei").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "long enough") {
			t.Fatalf("stored password_hash = %q", stored)
		}
		for _, bad := range [][2]string{{"li.wei", "long enough passworD"}, {"nobody", "long enough password"}, {"li.wei", ""}} {
			if _, _, _, err := s.Login(ctx, bad[0], bad[1], time.Hour); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
				t.Errorf("Login(%q, %q) = %v", bad[0], bad[1], err)
			}
		}
		sess, u, secret, err := s.Login(ctx, "li.wei", "long enough password", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "li.wei" || u.Role != lianlu.RoleOperator || sess.UserID != u.ID || !strings.HasPrefix(secret, sqlstore.SessionPrefix) {
			t.Fatalf("login = %+v %+v %q", sess, u, secret)
		}
		var n int
		if err := queryRow(t, db, `SELECT COUNT(*) FROM console_sessions WHERE hash = ?`, secret).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the secret itself is stored (%d, %v)", n, err)
		}
		if _, u2, err := s.AuthenticateSession(ctx, secret); err != nil || u2.ID != u.ID {
			t.Fatalf("authenticate = %+v %v", u2, err)
		}
		for _, bad := range []string{"", secret + "x", "lls_nope", strings.TrimPrefix(secret, sqlstore.SessionPrefix)} {
			if _, _, err := s.AuthenticateSession(ctx, bad); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
				t.Errorf("AuthenticateSession(%q) = %v", bad, err)
			}
		}
		// Expiry follows the injected clock.
		clock.Add(59 * time.Minute)
		if _, _, err := s.AuthenticateSession(ctx, secret); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		clock.Add(time.Minute)
		if _, _, err := s.AuthenticateSession(ctx, secret); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
			t.Fatalf("after expiry: %v", err)
		}
		// Logout ends a session; a new password ends all of them.
		_, _, a, _ := s.Login(ctx, "li.wei", "long enough password", time.Hour)
		_, _, b, _ := s.Login(ctx, "li.wei", "long enough password", time.Hour)
		if err := s.Logout(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AuthenticateSession(ctx, a); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
			t.Fatalf("after logout: %v", err)
		}
		if _, _, err := s.AuthenticateSession(ctx, b); err != nil {
			t.Fatalf("other session after logout: %v", err)
		}
		if err := s.SetPassword(ctx, "li.wei", "another long password"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.AuthenticateSession(ctx, b); lianlu.ErrorCode(err) != lianlu.EUNAUTHORIZED {
			t.Fatalf("session survived a password change: %v", err)
		}
		entries, _ := users.FindAuditEntries(ctx, 0, 100)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action+"/"+e.Actor)
		}
		got := strings.Join(actions, " ")
		if !strings.Contains(got, "user.password_set/cli") || !strings.Contains(got, "user.login/user:li.wei") {
			t.Fatalf("audit = %s", got)
		}
	})
}

// queryRow runs one read in a transaction of its own.
func queryRow(t *testing.T, db *sqlstore.DB, q string, args ...any) rowScan {
	t.Helper()
	var r rowScan
	err := db.WithTx(ctxT(t), func(tx *sqlstore.Tx) error {
		var vals []any
		rows, err := tx.QueryContext(ctxT(t), tx.Rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if !rows.Next() {
			return sql.ErrNoRows
		}
		vals = make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		r.vals = vals
		return rows.Err()
	})
	r.err = err
	return r
}

type rowScan struct {
	vals []any
	err  error
}

// Scan copies the row's values into strings and ints.
func (r rowScan) Scan(dst ...any) error {
	if r.err != nil {
		return r.err
	}
	for i, d := range dst {
		switch p := d.(type) {
		case *string:
			switch v := r.vals[i].(type) {
			case string:
				*p = v
			case []byte:
				*p = string(v)
			}
		case *int:
			*p = int(r.vals[i].(int64))
		}
	}
	return nil
}
