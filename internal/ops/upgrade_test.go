package ops

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// oldSchema is the schema version an earlier release left: the foundation, before any
// operations-center migration.
const oldSchema = 4

func (f *fixture) upgradeOptions(version string) UpgradeOptions {
	return UpgradeOptions{Version: version, DataDir: f.opt.DataDir, DatabaseURL: f.opt.URL, Key: f.key, Logger: slog.New(slog.DiscardHandler)}
}

func TestUpgradeThenRollbackRestoresTheOldDatabase(t *testing.T) {
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		f := newFixture(t, opt, oldSchema)
		f.seed(t, "old", 5)
		before := statsMap(t, f.db)

		rel, err := Upgrade(ctx, f.db, f.upgradeOptions("2.0.0"))
		if err != nil {
			t.Fatal(err)
		}
		cur, latest, _ := f.db.Version(ctx)
		if rel.Kind != ReleaseUpgrade || rel.Result != ResultSuccess || rel.FromSchema != oldSchema || rel.ToSchema != latest || cur != latest {
			t.Fatalf("release %+v (schema now %d of %d)", rel, cur, latest)
		}
		names := map[string]bool{}
		for _, c := range rel.Checks {
			names[c.Name] = c.OK
		}
		for _, n := range []string{"数据库迁移", "就绪检查", "行数核对", "审计链校验"} {
			if !names[n] {
				t.Errorf("check %s missing or failed: %+v", n, rel.Checks)
			}
		}
		m, err := ReadManifest(rel.BackupFile)
		if err != nil || m.Kind != KindPreUpgrade || m.SchemaVersion != oldSchema {
			t.Fatalf("pre-upgrade backup: %v %+v", err, m)
		}
		var stored []Release
		if err := f.db.Select(ctx, &stored, `SELECT id, ref, kind, version, from_schema, to_schema, backup_file, operator, started_at, finished_at, result, checks, detail FROM ops_releases`); err != nil {
			t.Fatal(err)
		}
		if len(stored) != 1 || stored[0].Ref != rel.Ref || stored[0].Operator == "" || stored[0].Version != "2.0.0" {
			t.Fatalf("release records %+v", stored)
		}
		var backups int
		f.db.Get(ctx, &backups, `SELECT COUNT(*) FROM ops_backups WHERE kind = 'pre_upgrade' AND status = 'ok'`)
		if backups != 1 {
			t.Fatalf("%d pre-upgrade backup rows", backups)
		}
		// Nothing pending: starting again changes nothing.
		if again, err := Upgrade(ctx, f.db, f.upgradeOptions("2.0.0")); err != nil || again != nil {
			t.Fatalf("second start: %v %+v", err, again)
		}
		// The new version is used before it is rolled back.
		f.seed(t, "new", 3)
		f.db.Close()

		rb, err := Rollback(ctx, f.upgradeOptions("2.0.0"))
		if err != nil {
			t.Fatal(err)
		}
		if rb.Kind != ReleaseRollback || rb.Result != ResultSuccess || rb.ToSchema != oldSchema || rb.BackupFile != rel.BackupFile {
			t.Fatalf("rollback %+v", rb)
		}
		db, err := store.Open(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if cur, _, _ := db.Version(ctx); cur != oldSchema {
			t.Fatalf("schema after rollback %d", cur)
		}
		// Equal to before, table by table; the audit log gained the rollback's own record.
		sameTables(t, "after rollback", before, statsMap(t, db), "audit_log", "audit_chain")
		var kept, rollbackAudit int
		db.Get(ctx, &kept, `SELECT COUNT(*) FROM audit_log WHERE action = 'test.seed'`)
		db.Get(ctx, &rollbackAudit, `SELECT COUNT(*) FROM audit_log WHERE action = 'ops.release.rollback'`)
		if kept != 5 || rollbackAudit != 1 {
			t.Fatalf("audit after rollback: %d seed records, %d rollback records", kept, rollbackAudit)
		}
		if c := verifyAudit(ctx, db, f.key); !c.OK {
			t.Fatalf("audit chain after rollback: %s", c.Detail)
		}
		// The old schema has no release table: the records wait in the journal...
		j, _ := readJournal(opt.DataDir)
		if len(j) != 2 || j[0].Kind != ReleaseUpgrade || j[1].Kind != ReleaseRollback {
			t.Fatalf("journal %+v", j)
		}
		// ...and reach the table at the next upgrade, with every archive of the directory.
		f.db = db
		if _, err := Upgrade(ctx, db, f.upgradeOptions("2.0.1")); err != nil {
			t.Fatal(err)
		}
		all, err := releases(ctx, db, opt.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range all {
			kinds = append(kinds, r.Kind)
		}
		if strings.Join(kinds, ",") != "upgrade,rollback,upgrade" {
			t.Fatalf("release history %v", kinds)
		}
		var archives int
		db.Get(ctx, &archives, `SELECT COUNT(*) FROM ops_backups`)
		if archives != 3 { // pre-upgrade, pre-rollback, pre-upgrade
			t.Fatalf("%d backups recorded", archives)
		}
	})
}

func TestUpgradeWithoutBackupDoesNotMigrate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{DataDir: t.TempDir()}, oldSchema)
	f.seed(t, "x", 2)
	// A file where the backup directory should be: the backup cannot be written.
	if err := os.WriteFile(filepath.Join(f.opt.DataDir, "backups"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Upgrade(ctx, f.db, f.upgradeOptions("2.0.0"))
	if err == nil || !strings.Contains(err.Error(), "升级前自动备份失败，未执行数据库迁移") {
		t.Fatalf("upgrade without backup: %v", err)
	}
	if cur, _, _ := f.db.Version(ctx); cur != oldSchema {
		t.Fatalf("migrated to %d without a backup", cur)
	}
}

func TestFirstInstallIsRecorded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rel, err := Upgrade(ctx, db, UpgradeOptions{Version: "1.0.0", DataDir: dir, Key: make([]byte, 32)})
	if err != nil || rel.Kind != ReleaseInstall || rel.BackupFile != "" || rel.Result != ResultSuccess {
		t.Fatalf("install: %v %+v", err, rel)
	}
	var n int
	db.Get(ctx, &n, `SELECT COUNT(*) FROM ops_releases WHERE kind = 'install'`)
	if n != 1 {
		t.Fatalf("%d install records", n)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "backups", "*.tar.gz")); len(files) != 0 {
		t.Fatalf("an empty database was backed up: %v", files)
	}
}
