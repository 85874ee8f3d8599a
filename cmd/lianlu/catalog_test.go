package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lianlu/lianlu/internal/sqlstore"
)

func TestCLI_ImportStores(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == "LIANLU_DATA" {
			return dir
		}
		return ""
	}
	csv := "code,name,lat,lng,mon,tue,sat,sun,skills,capacity_per_day,service_radius_km,staff\n" +
		"SH-01,上海静安店,31.22,121.45,10:00-22:00,10:00-22:00,10:00-14:00 15:00-20:00,closed,install;repair,4,20,E01:王芳;E02:Li Lei\n" +
		"SH-02,Bad hours,31.2,121.4,22:00-10:00,,,,install,1,5,\n" +
		"BJ-01,北京三里屯,39.93,116.45,09:00-21:00,,,,fitting,2,10,\n"
	path := filepath.Join(dir, "stores.csv")
	os.WriteFile(path, []byte(csv), 0o600)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"catalog", "import", "stores", path}, env, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "3 rows: 2 created, 0 updated, 0 unchanged, 1 rejected") || !strings.Contains(out.String(), "hours.mon[0]: start 22:00 is not before end 10:00") {
		t.Fatalf("import: %v\n%s%s", err, out.String(), errOut.String())
	}
	out.Reset()
	run(context.Background(), []string{"catalog", "import", "stores", path}, env, &out, &errOut)
	if !strings.Contains(out.String(), "0 created, 0 updated, 2 unchanged") {
		t.Fatalf("second import: %s", out.String())
	}
	db, err := sqlstore.Open(context.Background(), sqlstore.Options{Path: filepath.Join(dir, "lianlu.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlstore.NewStoreService(db).FindStoreByCode(context.Background(), "SH-01")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Hours["sat"]) != 2 || len(st.Hours["sun"]) != 0 || len(st.Hours["wed"]) != 0 || st.CapacityPerDay != 4 || len(st.Staff) != 2 ||
		!equal(st.Skills, []string{"install", "repair"}) {
		t.Fatalf("imported store: %+v", st)
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }
