package ops

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// fixture is a database with a master key in its data directory, as `zhsj serve` leaves it.
type fixture struct {
	opt     store.Options
	db      *store.DB
	key     []byte
	keyFile string
}

func newFixture(t *testing.T, opt store.Options, version int64) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if version > 0 {
		err = db.MigrateTo(ctx, version)
	} else {
		_, err = db.Migrate(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	keyFile := filepath.Join(opt.DataDir, "secret.key")
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &fixture{opt: opt, db: db, key: key, keyFile: keyFile}
}

func (f *fixture) source() Source {
	return Source{DB: f.db, DatabaseURL: f.opt.URL, Key: f.key, KeyFile: f.keyFile, Version: "test-1"}
}

// seed writes business-like rows: settings, regions, a user with a sealed field, and audit
// records chained under the key.
func (f *fixture) seed(t *testing.T, tag string, n int) {
	t.Helper()
	ctx := context.Background()
	keys, _ := gm.NewSoftKeyring(f.key)
	log := audit.New(f.db, keys)
	now := store.Now()
	f.db.Exec(ctx, `INSERT INTO regions (code, name, level, path) VALUES ('610000', '陕西省', 'province', '/610000/') ON CONFLICT (code) DO NOTHING`)
	for i := 0; i < n; i++ {
		if _, err := f.db.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, fmt.Sprintf("%s.%d", tag, i), "值"+tag, now); err != nil {
			t.Fatal(err)
		}
		sealed, _ := keys.Seal(gm.PurposePhone, []byte("1390000"+fmt.Sprint(1000+i)))
		if _, err := f.db.Exec(ctx, `INSERT INTO users (account, name, phone_enc, region_code, created_at, updated_at, password_changed_at) VALUES (?, ?, ?, '610000', ?, ?, ?)`,
			fmt.Sprintf("%s_u%d", tag, i), "用户"+tag, sealed, now, now, now); err != nil {
			t.Fatal(err)
		}
		if err := log.Record(ctx, nil, audit.Entry{Kind: audit.KindOperation, Actor: "tester", Action: "test.seed", ObjectID: fmt.Sprint(i), Result: audit.ResultSuccess, Detail: "测试数据 " + tag}); err != nil {
			t.Fatal(err)
		}
	}
}

func statsMap(t *testing.T, db *store.DB) map[string]TableStat {
	t.Helper()
	st, err := TableStats(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]TableStat{}
	for _, s := range st {
		m[s.Name] = s
	}
	return m
}

func sameTables(t *testing.T, what string, want, got map[string]TableStat, skip ...string) {
	t.Helper()
	for name, w := range want {
		if contains(skip, name) {
			continue
		}
		g, ok := got[name]
		if !ok || g.Rows != w.Rows || g.SM3 != w.SM3 {
			t.Errorf("%s: table %s: got %+v, want %+v", what, name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok && !contains(skip, name) {
			t.Errorf("%s: extra table %s", what, name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// restoreTarget returns an empty data directory and, on PostgreSQL, a fresh empty database.
func restoreTarget(t *testing.T, f *fixture) Target {
	tg := Target{DataDir: filepath.Join(t.TempDir(), "restored")}
	if f.opt.URL != "" {
		tg.DatabaseURL = storetest.PostgresURL(t)
	}
	return tg
}

func openTarget(t *testing.T, tg Target) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{URL: tg.DatabaseURL, DataDir: tg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBackupRestoreEqual(t *testing.T) {
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		f := newFixture(t, opt, 0)
		f.seed(t, "a", 20)
		before := statsMap(t, f.db)
		// A partitioned table (PostgreSQL) is one table with all its rows; its partitions
		// are not tables of their own, or the manifest would count their rows twice.
		if _, ok := before["audit_log_default"]; ok || before["audit_log"].Rows < 20 {
			t.Fatalf("audit_log listed as %+v, its default partition too: %v", before["audit_log"], ok)
		}
		out := filepath.Join(t.TempDir(), "bk", "backup.tar.gz")
		m, err := Backup(ctx, f.source(), out, KindCLI, "tester")
		if err != nil {
			t.Fatal(err)
		}
		_, latest, _ := f.db.Version(ctx)
		if m.SchemaVersion != latest || m.Dialect != string(f.db.Dialect()) || !m.has(keyName) || m.KeyFingerprint == "" {
			t.Fatalf("manifest %+v", m)
		}
		for _, tb := range m.Tables {
			if b := before[tb.Name]; b.Rows != tb.Rows || b.SM3 != tb.SM3 {
				t.Errorf("manifest table %s = %+v, database %+v", tb.Name, tb, b)
			}
		}
		if _, err := Backup(ctx, f.source(), out, KindCLI, "tester"); err == nil {
			t.Fatal("existing backup file overwritten")
		}

		tg := restoreTarget(t, f)
		_, v, err := Restore(ctx, out, tg)
		if err != nil {
			t.Fatal(err)
		}
		if !v.OK || v.AuditChecked != 20 || v.SchemaVersion != latest {
			t.Fatalf("verification %+v", v)
		}
		restored := openTarget(t, tg)
		sameTables(t, "restored", before, statsMap(t, restored))
		if k, err := readKeyFile(filepath.Join(tg.DataDir, keyName)); err != nil || hex.EncodeToString(k) != hex.EncodeToString(f.key) {
			t.Fatalf("master key not restored: %v", err)
		}

		// A non-empty target is refused and left untouched.
		if _, _, err := Restore(ctx, out, tg); err == nil || !strings.Contains(err.Error(), "空") {
			t.Fatalf("restore into a non-empty target: %v", err)
		}
		sameTables(t, "after refused restore", before, statsMap(t, restored))
	})
}

func TestRestoreDetectsTamperingAndLeavesTargetEmpty(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, store.Options{DataDir: t.TempDir()}, 0)
	f.seed(t, "a", 3)
	out := filepath.Join(t.TempDir(), "backup.tar.gz")
	m, err := Backup(ctx, f.source(), out, KindCLI, "tester")
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the archive with a manifest whose row count is wrong: the data no longer
	// matches what the manifest promises.
	dir := t.TempDir()
	if _, err := extractArchive(out, dir); err != nil {
		t.Fatal(err)
	}
	for i := range m.Tables {
		if m.Tables[i].Name == "settings" {
			m.Tables[i].Rows++
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	if err := writeArchive(bad, m, [][2]string{{sqliteName, filepath.Join(dir, sqliteName)}, {keyName, filepath.Join(dir, keyName)}}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "r")
	_, v, err := Restore(ctx, bad, Target{DataDir: target})
	if err == nil || v == nil || v.OK || !strings.Contains(err.Error(), "settings") {
		t.Fatalf("wrong row count accepted: %v %+v", err, v)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("failed restore left the target behind: %v", err)
	}

	// A flipped byte in the payload fails the SM3 check.
	raw, _ := os.ReadFile(filepath.Join(dir, sqliteName))
	raw[len(raw)/2] ^= 0xff
	os.WriteFile(filepath.Join(dir, sqliteName), raw, 0o600)
	orig, _ := ReadManifest(out)
	bad2 := filepath.Join(t.TempDir(), "bad2.tar.gz")
	rawArchive(t, bad2, orig, [][2]string{{sqliteName, filepath.Join(dir, sqliteName)}, {keyName, filepath.Join(dir, keyName)}})
	if _, _, err := Restore(ctx, bad2, Target{DataDir: filepath.Join(t.TempDir(), "r2")}); err == nil || !strings.Contains(err.Error(), "SM3") {
		t.Fatalf("tampered payload accepted: %v", err)
	}

	// A different master key is refused with a clear message.
	other := make([]byte, 32)
	if _, _, err := Restore(ctx, out, Target{DataDir: filepath.Join(t.TempDir(), "r3"), Key: other}); err == nil || !strings.Contains(err.Error(), "主密钥") {
		t.Fatalf("wrong key accepted: %v", err)
	}
}

// rawArchive writes an archive with exactly the given manifest (no checksums recomputed).
func rawArchive(t *testing.T, path string, m *Manifest, files [][2]string) {
	t.Helper()
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	gz := gzip.NewWriter(fh)
	tw := tar.NewWriter(gz)
	mj, _ := json.Marshal(m)
	tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mj)), Typeflag: tar.TypeReg})
	tw.Write(mj)
	for _, f := range files {
		b, _ := os.ReadFile(f[1])
		tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	gz.Close()
}

// TestBackupWhileWriting backs up while another connection keeps inserting: the archive
// holds one consistent moment (some but not all of the concurrent rows) and restores equal
// to its manifest. SQLite copies with VACUUM INTO, PostgreSQL dumps under an exported
// snapshot.
func TestBackupWhileWriting(t *testing.T) {
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		f := newFixture(t, opt, oldSchema)
		f.seed(t, "a", 5)
		var stop atomic.Bool
		var written atomic.Int64
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if _, err := f.db.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, 'x', ?)`, fmt.Sprintf("w.%d", i), store.Now()); err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		})
		for written.Load() < 50 {
			time.Sleep(time.Millisecond)
		}
		out := filepath.Join(t.TempDir(), "live.tar.gz")
		m, err := Backup(ctx, f.source(), out, KindCLI, "tester")
		atBackup := written.Load()
		for written.Load() < atBackup+50 {
			time.Sleep(time.Millisecond)
		}
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		var inBackup int64
		for _, tb := range m.Tables {
			if tb.Name == "settings" {
				inBackup = tb.Rows - 5
			}
		}
		if inBackup < 50 || inBackup > atBackup || inBackup >= written.Load() {
			t.Fatalf("backup holds %d of the concurrent rows (50 before, %d at the end of the backup, %d in total)", inBackup, atBackup, written.Load())
		}
		_, v, err := Restore(ctx, out, restoreTarget(t, f))
		if err != nil || !v.OK {
			t.Fatalf("restore of a live backup: %v %+v", err, v)
		}
	})
}

func TestPostgresBackupWithoutPGDump(t *testing.T) {
	f := newFixture(t, store.Options{URL: storetest.PostgresURL(t), DataDir: t.TempDir()}, oldSchema)
	t.Setenv("PATH", t.TempDir())
	_, err := Backup(context.Background(), f.source(), filepath.Join(t.TempDir(), "x.tar.gz"), KindCLI, "tester")
	if err == nil || !strings.Contains(err.Error(), "未找到 pg_dump") {
		t.Fatalf("missing pg_dump: %v", err)
	}
}

func TestVerifyArchive(t *testing.T) {
	storetest.Dialects(t, func(t *testing.T, opt store.Options) {
		ctx := context.Background()
		f := newFixture(t, opt, 0)
		f.seed(t, "v", 4)
		out := filepath.Join(t.TempDir(), "b.tar.gz")
		if _, err := Backup(ctx, f.source(), out, KindCLI, "tester"); err != nil {
			t.Fatal(err)
		}
		v, err := VerifyArchive(ctx, out, Scratch{Dir: t.TempDir(), DatabaseURL: opt.URL, Key: f.key})
		if err != nil || !v.OK || v.AuditChecked != 4 || v.Rows == 0 {
			t.Fatalf("verify: %v %+v", err, v)
		}
		if !strings.Contains(v.Summary(), "恢复验证通过") {
			t.Fatal(v.Summary())
		}
	})
}
