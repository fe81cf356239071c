package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
)

// TestCheckCommand runs `zhsj check` on a data directory with market entities, one of them
// without a name: --json prints one object with the per-rule counts and the exit status is
// non-zero while a rule is below its threshold; a passing selection exits 0 with a Chinese
// summary.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, "", "migrate", "up", "--data", dir); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "zhsj.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, name := range []any{"甲公司", "乙公司", nil} {
		u := validate.MakeUSCC('9', '1', "610100", fmt.Sprintf("CK%06d", i))
		if _, err := db.Exec(`INSERT INTO ds_enterprise(uscc, name, region_code, row_hash, first_seen_at, last_updated_at) VALUES (?, ?, '610102', 'h', ?, ?)`,
			u, name, now, now); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out, err := run(t, "", "check", "--data", dir, "--dataset", "enterprise", "--rule", "ENT_NAME_NOT_EMPTY", "--json")
	if err == nil || !strings.Contains(err.Error(), "1 条规则未达阈值") {
		t.Fatalf("check with a failing rule exited 0: %v %s", err, out)
	}
	var j checkJSON
	if e := json.Unmarshal([]byte(out), &j); e != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", e, out)
	}
	if len(j.Rules) != 1 || j.Rules[0].Rule != "ENT_NAME_NOT_EMPTY" || j.Rules[0].Checked != 3 || j.Rules[0].Failed != 1 || j.Status != "failed" || j.RunID == 0 {
		t.Fatalf("json: %s", out)
	}

	out, err = run(t, "", "check", "--data", dir, "--rule", "ENT_USCC_VALID")
	if err != nil || !strings.Contains(out, "通过 1，未达阈值 0") || !strings.Contains(out, "[通过] ENT_USCC_VALID") || !strings.Contains(out, "核查 3，不合格 0") {
		t.Fatalf("passing check: %v\n%s", err, out)
	}
	// All enterprise rules: the output lists each with its counts.
	out, err = run(t, "", "check", "--data", dir, "--dataset", "enterprise")
	if err == nil || !strings.Contains(out, "ENT_NAME_NOT_EMPTY") || !strings.Contains(out, "ENT_REGION_VALID") {
		t.Fatalf("enterprise check: %v\n%s", err, out)
	}
	if _, err := run(t, "", "check", "--data", dir, "--dataset", "nosuch"); err == nil || !strings.Contains(err.Error(), "不存在") {
		t.Fatalf("unknown dataset: %v", err)
	}
	// The runs are recorded and audited.
	out, err = run(t, "", "audit", "verify", "--data", dir)
	if err != nil {
		t.Fatalf("verify: %v %s", err, out)
	}
	db, _ = sql.Open("sqlite", filepath.Join(dir, "zhsj.db"))
	defer db.Close()
	var runs, audited int
	db.QueryRow(`SELECT COUNT(*) FROM quality_runs WHERE trigger_kind = 'cli'`).Scan(&runs)
	db.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'quality.run.execute'`).Scan(&audited)
	if runs != 3 || audited != 3 {
		t.Fatalf("%d runs, %d audited", runs, audited)
	}
}
