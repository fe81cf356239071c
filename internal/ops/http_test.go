package ops_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/ops"
)

// TestBackupAPI drives backups through the HTTP API on both databases: a manual backup, its
// test restore, the retention policy (validated, audited, applied by Prune), the release
// records, data scope and permissions.
func TestBackupAPI(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		db := e.App.DB
		e.User("eng", "610000", "engineer")
		e.User("xian_eng", "610100", "engineer")
		e.User("analyst", "610000", "analyst")
		c := e.Login("eng")

		res := c.Do("POST", "/api/v1/ops/backups", nil)
		var created struct {
			ID     int64
			Backup ops.BackupRecord
		}
		if res.Status != 201 || res.JSON(&created) != nil || created.Backup.Status != "ok" || created.Backup.RowsCount == 0 || created.Backup.SM3 == "" {
			t.Fatalf("backup: %d %s", res.Status, res.Body)
		}
		res = c.Do("POST", fmt.Sprintf("/api/v1/ops/backups/%d/verify", created.ID), nil)
		var verified struct {
			Verification ops.Verification
			Message      string
		}
		if res.Status != 200 || res.JSON(&verified) != nil || !verified.Verification.OK || !strings.Contains(verified.Message, "恢复验证通过") {
			t.Fatalf("verify: %d %s", res.Status, res.Body)
		}
		var list struct {
			Items []ops.BackupRecord
			Total int
		}
		c.Do("GET", "/api/v1/ops/backups", nil).JSON(&list)
		if list.Total != 1 || list.Items[0].VerifyResult != "passed" || list.Items[0].VerifiedAt == nil {
			t.Fatalf("list after verify: %+v", list)
		}
		// A changed archive fails its verification.
		f, err := os.OpenFile(created.Backup.File, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x"))
		f.Close()
		res = c.Do("POST", fmt.Sprintf("/api/v1/ops/backups/%d/verify", created.ID), nil)
		if res.JSON(&verified) != nil || verified.Verification.OK || !strings.Contains(verified.Message, "SM3") {
			t.Fatalf("verify of a changed archive: %d %s", res.Status, res.Body)
		}

		for _, bad := range []map[string]int{{"retention_days": 0, "keep": 3}, {"retention_days": 10, "keep": 0}} {
			if res := c.Do("PUT", "/api/v1/ops/backup-settings", bad); res.Status != 400 {
				t.Fatalf("settings %v: %d %s", bad, res.Status, res.Body)
			}
		}
		if res := c.Do("PUT", "/api/v1/ops/backup-settings", map[string]int{"retention_days": 7, "keep": 2}); res.Status != 200 {
			t.Fatalf("settings: %d %s", res.Status, res.Body)
		}
		var st ops.Settings
		c.Do("GET", "/api/v1/ops/backup-settings", nil).JSON(&st)
		if st.RetentionDays != 7 || st.Keep != 2 {
			t.Fatalf("settings read back %+v", st)
		}

		// Retention (7 days, keep 2): the manual backup of today and the newest old scheduled one
		// stay by the keep count, three older scheduled ones go, the pre-upgrade one stays.
		svc := ops.New(db, e.App.Audit, ops.UpgradeOptions{Version: "t", DataDir: e.App.Cfg.DataDir, Key: e.App.Cfg.SecretKey})
		dir := t.TempDir()
		var files []string
		for i, kind := range []string{ops.KindScheduled, ops.KindScheduled, ops.KindScheduled, ops.KindScheduled, ops.KindPreUpgrade} {
			f := fmt.Sprintf("%s/old-%d.tar.gz", dir, i)
			if err := os.WriteFile(f, []byte("archive"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `INSERT INTO ops_backups (file, kind, status, created_at) VALUES (?, ?, 'ok', ?)`,
				f, kind, time.Now().Add(-time.Duration(30-i)*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		n, err := svc.Prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("pruned %d", n)
		}
		for i, f := range files {
			_, err := os.Stat(f)
			if gone := i < 3; gone != os.IsNotExist(err) {
				t.Errorf("backup %d (%s): exists=%v", i, f, err == nil)
			}
		}
		var deleted int
		db.Get(ctx, &deleted, `SELECT COUNT(*) FROM ops_backups WHERE status = 'deleted' AND deleted_at IS NOT NULL`)
		if deleted != 3 {
			t.Fatalf("%d rows marked deleted", deleted)
		}

		var audited int
		db.Get(ctx, &audited, `SELECT COUNT(*) FROM audit_log WHERE action IN ('ops.backup.create', 'ops.backup.verify', 'ops.backup.settings')`)
		if audited != 4 {
			t.Fatalf("%d audit records for backup operations", audited)
		}

		if res := c.Do("GET", "/api/v1/ops/releases", nil); res.Status != 200 {
			t.Fatalf("releases: %d %s", res.Status, res.Body)
		}
		// Scope and permissions.
		var other struct{ Total int }
		e.Login("xian_eng").Do("GET", "/api/v1/ops/backups", nil).JSON(&other)
		if other.Total != 0 {
			t.Fatalf("city engineer sees %d provincial backups", other.Total)
		}
		ca := e.Login("analyst")
		if res := ca.Do("POST", "/api/v1/ops/backups", nil); res.Status != 403 {
			t.Fatalf("analyst backup: %d", res.Status)
		}
		if res := ca.Do("GET", "/api/v1/ops/releases", nil); res.Status != 403 {
			t.Fatalf("analyst releases: %d", res.Status)
		}
	})
}
