package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zhsj/internal/store"
)

func TestBackupRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, "Zq8#vNp3!xLm6Rt\n", "user", "create", "--data", dir, "--account", "ops1", "--name", "运维一", "--role", "engineer", "--password-stdin"); err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	archive := filepath.Join(t.TempDir(), "zhsj.tar.gz")
	out, err := run(t, "", "backup", "--data", dir, "--out", archive)
	if err != nil || !strings.Contains(out, "备份完成") {
		t.Fatalf("backup: %v %s", err, out)
	}
	target := filepath.Join(t.TempDir(), "restored")
	out, err = run(t, "", "restore", "--data", target, archive)
	if err != nil || !strings.Contains(out, "恢复验证通过") {
		t.Fatalf("restore: %v %s", err, out)
	}
	// The restored directory works: same users, intact audit chain (with the restore itself).
	out, err = run(t, "", "audit", "verify", "--data", target)
	if err != nil || !strings.Contains(out, "审计链完整") {
		t.Fatalf("verify restored: %v %s", err, out)
	}
	db, err := store.Open(context.Background(), store.Options{DataDir: target})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	db.Get(context.Background(), &n, `SELECT COUNT(*) FROM users WHERE account = 'ops1'`)
	var restores int
	db.Get(context.Background(), &restores, `SELECT COUNT(*) FROM audit_log WHERE action = 'ops.backup.restore'`)
	db.Close()
	if n != 1 || restores != 1 {
		t.Fatalf("restored users %d, restore audit records %d", n, restores)
	}
	// Never over existing data.
	if out, err := run(t, "", "restore", "--data", dir, archive); err == nil || !strings.Contains(err.Error(), "不是空目录") {
		t.Fatalf("restore over existing data: %v %s", err, out)
	}
}

// TestUpgradeAndRollbackCommands starts the current program on a database an earlier
// release left (schema 4): the start backs up, migrates and records the release; `zhsj
// rollback` then brings back the earlier database.
func TestUpgradeAndRollbackCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Any command that opens the application upgrades first.
	if out, err := run(t, "Zq8#vNp3!xLm6Rt\n", "user", "create", "--data", dir, "--account", "ops1", "--name", "运维一", "--role", "engineer", "--password-stdin"); err != nil {
		t.Fatalf("user create on the old schema: %v %s", err, out)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "backups", "*pre-upgrade.tar.gz"))
	if len(backups) != 1 {
		t.Fatalf("pre-upgrade backups: %v", backups)
	}
	db, _ = store.Open(ctx, store.Options{DataDir: dir})
	var rel int
	db.Get(ctx, &rel, `SELECT COUNT(*) FROM ops_releases WHERE kind = 'upgrade' AND result = 'success' AND from_schema = 4`)
	db.Close()
	if rel != 1 {
		t.Fatalf("%d upgrade records", rel)
	}
	out, err := run(t, "", "rollback", "--data", dir)
	if err != nil || !strings.Contains(out, "回滚完成") {
		t.Fatalf("rollback: %v %s", err, out)
	}
	db, _ = store.Open(ctx, store.Options{DataDir: dir})
	defer db.Close()
	cur, _, _ := db.Version(ctx)
	var users int
	db.Get(ctx, &users, `SELECT COUNT(*) FROM users`)
	if cur != 4 || users != 0 {
		t.Fatalf("after rollback: schema %d, %d users", cur, users)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "backups", "releases.jsonl")); err != nil || !strings.Contains(string(b), `"kind":"rollback"`) {
		t.Fatalf("rollback not recorded: %v %s", err, b)
	}
}
