package httpapi_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/sqlstore/sqlstoretest"
)

// newSecretsEnv starts the API on a fresh database of dialect with the
// services whose responses carry secrets, and returns where the database
// lives (the SQLite file or the PostgreSQL URL).
func newSecretsEnv(t *testing.T, dialect string) (*env, sqlstore.Options) {
	t.Helper()
	opts := sqlstoretest.Options(t, dialect, sqlstore.Options{})
	db := sqlstoretest.OpenAt(t, opts)
	e := &env{t: t, db: db, access: sqlstore.NewAccessService(db), events: sqlstore.NewEventService(db), srcs: sqlstore.NewSourceService(db)}
	e.api = httpapi.NewServer(httpapi.Config{Events: e.events, Access: e.access, Store: db, Sources: e.srcs, Webhooks: sqlstore.NewWebhookService(db)})
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(func() { e.api.Close(); e.srv.Close() })
	e.admin = e.token(lianlu.DeptAdmin, lianlu.RoleAdmin)
	return e, opts
}

// postOnce POSTs body with an Idempotency-Key, expecting status, and
// returns the response's field named secretField.
func (e *env) postOnce(path, key, body string, status int, secretField string) string {
	e.t.Helper()
	r := e.do("POST", path, e.admin, map[string]string{"Content-Type": "application/json", "Idempotency-Key": key}, []byte(body))
	if r.status != status {
		e.t.Fatalf("POST %s: %d %s", path, r.status, r.body)
	}
	var m map[string]any
	r.json(e.t, &m)
	secret, _ := m[secretField].(string)
	if len(secret) < 20 {
		e.t.Fatalf("POST %s: no %s in %s", path, secretField, r.body)
	}
	return secret
}

// The responses of the endpoints that show a secret once (tokens, write
// keys, webhook secrets) are not kept for Idempotency-Key replays: a
// repeat is 409 saying the secret was shown once, and no database file
// holds a token or write key afterwards (their hashes only), neither in
// the main file nor in the WAL, before or after a checkpoint; on
// PostgreSQL no row of any table does.
func TestIdempotency_KeepsNoSecret(t *testing.T) {
	for _, dialect := range sqlstoretest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e, opts := newSecretsEnv(t, dialect)
			token := e.postOnce("/api/v1/tokens", "tok-1", `{"name":"wms","department":"supply_chain","role":"operator"}`, 201, "token")
			created := e.postOnce("/api/v1/sources", "src-1", `{"name":"shop-web","department":"marketing","kind":"web"}`, 201, "write_key")
			list := e.do("GET", "/api/v1/sources", e.admin, nil, nil)
			var sources struct{ Items []struct{ ID int64 } }
			list.json(t, &sources)
			if len(sources.Items) != 1 {
				t.Fatalf("sources %s", list.body)
			}
			rotatePath := fmt.Sprint("/api/v1/sources/", sources.Items[0].ID, "/rotate-key")
			rotated := e.postOnce(rotatePath, "rot-1", ``, 200, "write_key")
			whSecret := e.postOnce("/api/v1/webhooks", "wh-1", `{"url":"https://erp.example.com/hooks","event_types":["order.*"]}`, 201, "secret")
			whRotated := e.postOnce("/api/v1/webhooks/1/rotate-secret", "wh-rot-1", ``, 200, "secret")
			secrets := map[string]string{"token": token, "created write key": created, "rotated write key": rotated}

			// A repeat would have to show the secret again: 409.
			for _, c := range []struct{ path, key, body string }{
				{"/api/v1/tokens", "tok-1", `{"name":"wms","department":"supply_chain","role":"operator"}`},
				{"/api/v1/sources", "src-1", `{"name":"shop-web","department":"marketing","kind":"web"}`},
				{rotatePath, "rot-1", ``},
				{"/api/v1/webhooks", "wh-1", `{"url":"https://erp.example.com/hooks","event_types":["order.*"]}`},
				{"/api/v1/webhooks/1/rotate-secret", "wh-rot-1", ``},
			} {
				r := e.do("POST", c.path, e.admin, map[string]string{"Content-Type": "application/json", "Idempotency-Key": c.key}, []byte(c.body))
				if r.status != http.StatusConflict {
					t.Fatalf("repeat POST %s: %d %s", c.path, r.status, r.body)
				}
				if p := r.problem(t); p.Code != lianlu.ECONFLICT || !strings.Contains(p.Detail, "shown once") {
					t.Fatalf("repeat POST %s: problem %+v", c.path, p)
				}
				for _, s := range []string{token, created, rotated, whSecret, whRotated} {
					if bytes.Contains(r.body, []byte(s)) {
						t.Fatalf("repeat POST %s shows a secret again: %s", c.path, r.body)
					}
				}
			}
			// The same key with another request is still a 400, and the
			// token that was created works.
			if r := e.do("POST", "/api/v1/tokens", e.admin, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "tok-1"},
				[]byte(`{"name":"other","department":"sales","role":"viewer"}`)); r.status != 400 {
				t.Fatalf("same key, other request: %d %s", r.status, r.body)
			}
			if r := e.do("GET", "/api/v1/whoami", token, nil, nil); r.status != 200 {
				t.Fatalf("the created token: %d %s", r.status, r.body)
			}

			switch dialect {
			case "sqlite":
				assertFilesHoldNone(t, opts.Path, secrets, "before a checkpoint")
				raw, err := sql.Open("sqlite", opts.Path)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				if _, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
					t.Fatal(err)
				}
				assertFilesHoldNone(t, opts.Path, secrets, "after a checkpoint")
				assertIdempotencyRowsHoldNone(t, raw, map[string]string{"webhook secret": whSecret, "rotated webhook secret": whRotated})
			case "postgres":
				raw, err := sql.Open("pgx", opts.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				assertTablesHoldNone(t, raw, secrets)
				assertIdempotencyRowsHoldNone(t, raw, map[string]string{"webhook secret": whSecret, "rotated webhook secret": whRotated})
			}
		})
	}
}

// assertFilesHoldNone greps the SQLite database file and its -wal and -shm
// files for each secret.
func assertFilesHoldNone(t *testing.T, path string, secrets map[string]string, when string) {
	t.Helper()
	read := 0
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		read++
		for what, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s: %s holds the %s", when, f, what)
			}
		}
	}
	if read == 0 {
		t.Fatalf("no database file at %s", path)
	}
}

// assertTablesHoldNone reads every row of every table of the schema as
// text and looks for each secret.
func assertTablesHoldNone(t *testing.T, db *sql.DB, secrets map[string]string) {
	t.Helper()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("tables %v", tables)
	}
	for _, table := range tables {
		rows, err := db.Query(`SELECT t::text FROM "` + table + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			for what, s := range secrets {
				if strings.Contains(row, s) {
					t.Errorf("table %s holds the %s: %.200s", table, what, row)
				}
			}
		}
		rows.Close()
	}
}

// assertIdempotencyRowsHoldNone checks the stored responses for secrets
// that are kept elsewhere by design (webhook signing secrets must be read
// back to sign).
func assertIdempotencyRowsHoldNone(t *testing.T, db *sql.DB, secrets map[string]string) {
	t.Helper()
	rows, err := db.Query(`SELECT key, path, COALESCE(body, '') FROM idempotency_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var key, path string
		var body []byte
		if err := rows.Scan(&key, &path, &body); err != nil {
			t.Fatal(err)
		}
		n++
		for what, s := range secrets {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("idempotency record %s (%s) holds the %s", key, path, what)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("%d idempotency records, want the 5 requests'", n)
	}
}
