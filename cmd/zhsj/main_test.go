package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"zhsj/internal/gm"
	"zhsj/internal/store"
)

func init() { gm.PasswordIterations = 1000 }

// run executes the CLI in-process, as `zhsj args…` would, with stdin.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	c := root()
	var out bytes.Buffer
	c.SetArgs(args)
	c.SetIn(strings.NewReader(stdin))
	c.SetOut(&out)
	c.SetErr(&out)
	err := c.Execute()
	return out.String(), err
}

func TestUserCreateBeforeServeAndAuditVerify(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "Zq8#vNp3!xLm6Rt\n", "user", "create", "--data", dir, "--account", "ops1", "--name", "运维一", "--role", "engineer", "--region", "610100", "--password-stdin")
	if err != nil || !strings.Contains(out, "已创建用户 ops1") {
		t.Fatalf("user create: %v %s", err, out)
	}
	// Policy applies to CLI-created users too.
	if _, err := run(t, "123456\n", "user", "create", "--data", dir, "--account", "ops2", "--name", "运维二", "--role", "engineer", "--password-stdin"); err == nil {
		t.Fatal("weak password accepted")
	}
	if _, err := run(t, "Zq8#vNp3!xLm6Rt\n", "user", "create", "--data", dir, "--account", "ops3", "--name", "三", "--role", "sysadmin", "--role", "auditadmin", "--password-stdin"); err == nil {
		t.Fatal("two administrator roles on one account accepted")
	}
	for _, args := range [][]string{{"user", "disable"}, {"user", "enable"}, {"user", "unlock"}} {
		if out, err := run(t, "", append(args, "--data", dir, "--account", "ops1")...); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if out, err := run(t, "Ab3$kLp9#qRz7Wm\n", "user", "reset-password", "--data", dir, "--account", "ops1", "--password-stdin"); err != nil {
		t.Fatalf("reset: %v %s", err, out)
	}
	out, err = run(t, "", "migrate", "status", "--data", dir)
	if err != nil || !strings.Contains(out, "0001") || strings.Contains(out, "未执行") {
		t.Fatalf("migrate status: %v %s", err, out)
	}
	out, err = run(t, "", "audit", "verify", "--data", dir)
	if err != nil || !strings.Contains(out, "审计链完整") {
		t.Fatalf("verify intact chain: %v %s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "zhsj.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n)
	if n < 5 {
		t.Fatalf("only %d audit records for the CLI operations", n)
	}
	// A changed record makes verify fail, naming it.
	if _, err := db.Exec(`UPDATE audit_log SET detail = '篡改' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "", "audit", "verify", "--data", dir)
	if err == nil || !strings.Contains(err.Error(), "第 2 条") {
		t.Fatalf("tampered chain verified: %v %s", err, out)
	}
}

// TestGracefulShutdown starts the real binary, sends SIGTERM while a login (a slow
// PBKDF2 hash and a write) is in flight, and checks that the request completes, the process
// exits cleanly and the session it wrote is in the database.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "zhsj")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--data", dir, "--addr", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var base, account, password string
	lineRe := regexp.MustCompile(`^\s+(sysadmin)\s+\S+\s+一次性口令 (\S+)`)
	urlRe := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/`)
	deadline := time.After(60 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("server exited before listening")
			}
			if m := lineRe.FindStringSubmatch(l); m != nil {
				account, password = m[1], m[2]
			}
			if m := urlRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
		case <-deadline:
			t.Fatal("server did not start")
		}
	}
	go func() {
		for range lines {
		}
	}()
	if account == "" {
		t.Fatal("no one-time password printed")
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		body, _ := json.Marshal(map[string]string{"account": account, "password": password})
		resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	time.Sleep(15 * time.Millisecond) // the request is being served (a hash takes ~60 ms)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || res.status != 200 {
		t.Fatalf("in-flight login during shutdown: %+v", res)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGTERM")
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "zhsj.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sessions int
	db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM sessions`).Scan(&sessions)
	if sessions != 1 {
		t.Fatalf("sessions after shutdown: %d", sessions)
	}
	if out, err := run(t, "", "audit", "verify", "--data", dir); err != nil {
		t.Fatalf("audit after shutdown: %v %s", err, out)
	}
}

// TestMigrateUpBacksUpFirst: `zhsj migrate up` on a database that holds data takes the same
// path as an upgrade at start: a pre-upgrade backup, the migration, checks, a release record.
func TestMigrateUpBacksUpFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES ('cli.test', 'kept', ?)`, store.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, err := run(t, "", "migrate", "up", "--data", dir)
	if err != nil || !strings.Contains(out, "升级前备份：") || !strings.Contains(out, "数据库迁移：通过") {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	backup := regexp.MustCompile(`升级前备份：(\S+)`).FindStringSubmatch(out)[1]
	if st, err := os.Stat(backup); err != nil || st.Size() == 0 {
		t.Fatalf("backup %s: %v", backup, err)
	}
	db, err = store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if pending, err := db.Pending(ctx); err != nil || pending {
		t.Fatalf("pending after migrate up: %v %v", pending, err)
	}
	var kept string
	var releases int
	db.Get(ctx, &kept, `SELECT value FROM settings WHERE key = 'cli.test'`)
	db.Get(ctx, &releases, `SELECT COUNT(*) FROM ops_releases WHERE kind = 'upgrade' AND result = 'success'`)
	if kept != "kept" || releases != 1 {
		t.Fatalf("after migrate up: setting %q, %d upgrade records", kept, releases)
	}
	if out, err := run(t, "", "migrate", "up", "--data", dir); err != nil || !strings.Contains(out, "数据库已是最新结构") {
		t.Fatalf("second migrate up: %v %s", err, out)
	}
}

// TestSeedReportsProgress: zhsj seed says which part it is writing and how long each took
// (the large scale runs for many minutes), then the demo accounts.
func TestSeedReportsProgress(t *testing.T) {
	out, err := run(t, "", "seed", "--data", t.TempDir())
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	for _, want := range []string{"演示数据：业务数据集（small 规模）…\n", "演示数据：业务数据集 完成（", "演示数据：业务数据集 · 市场主体 完成（", "演示数据：看板指标计算 完成（", "analyst", "演示数据已就绪。"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if _, err := run(t, "", "seed", "--data", t.TempDir(), "--scale", "huge"); err == nil || !strings.Contains(err.Error(), "未知的数据规模") {
		t.Errorf("unknown scale: %v", err)
	}
}
