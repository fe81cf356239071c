package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zhsj/internal/dataset"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// enterpriseFile writes n enterprise rows with Chinese titles; every 101st has a future
// establishment date (quarantined) and one in three carries an ID number (sealed).
func enterpriseFile(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"统一社会信用代码", "企业名称", "主体类型", "法定代表人", "法定代表人身份证号", "注册资本（万元）", "成立日期", "住所", "所属区域", "登记状态", "登记机关"})
	regions := []string{"新城区", "雁塔区", "渭滨区", "秦都区", "临渭区", "宝塔区", "汉台区", "榆阳区", "汉滨区", "商州区"}
	codes := []string{"610102", "610113", "610302", "610402", "610502", "610602", "610702", "610802", "610902", "611002"}
	for i := 0; i < n; i++ {
		k := i % len(codes)
		id := ""
		if i%3 == 0 {
			id = validate.MakeCitizenID(codes[k], time.Date(1960+i%40, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC), i, i%2 == 0)
		}
		date := fmt.Sprintf("%d-%02d-%02d", 1995+i%29, 1+i%12, 1+i%28)
		if i%101 == 0 {
			date = "2099-01-01"
		}
		w.Write([]string{validate.MakeUSCC('9', '1', codes[k], fmt.Sprintf("%08d", i)), fmt.Sprintf("测试企业%d有限公司", i), "有限责任公司",
			"法人" + strconv.Itoa(i), id, strconv.Itoa(i%5000 + 1), date, "陕西省某地" + strconv.Itoa(i), regions[k], "存续", "市场监督管理局"})
	}
	w.Flush()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("enterprise-%d.csv", n))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func jsonLine(t *testing.T, out string, v any) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			if err := json.Unmarshal([]byte(l), v); err != nil {
				t.Fatalf("json output %q: %v", l, err)
			}
			return
		}
	}
	t.Fatalf("no JSON object in output: %s", out)
}

func TestIngestCommand(t *testing.T) {
	dir := t.TempDir()
	file := enterpriseFile(t, 300)
	out, err := run(t, "", "ingest", "--data", dir, "--dataset", "enterprise", "--json", file)
	if err != nil {
		t.Fatalf("ingest with quarantined rows must exit 0: %v\n%s", err, out)
	}
	var sum struct {
		Read, Upserted, Unchanged, Quarantined int64
		RunID                                  int64 `json:"run_id"`
		Status                                 string
	}
	jsonLine(t, out, &sum)
	if sum.Read != 300 || sum.Upserted != 297 || sum.Unchanged != 0 || sum.Quarantined != 3 || sum.RunID == 0 || sum.Status != "committed" {
		t.Fatalf("summary: %+v", sum)
	}
	// Again, without --json: the summary in Chinese, nothing new.
	out, err = run(t, "", "ingest", "--data", dir, "--dataset", "enterprise", file)
	if err != nil || !strings.Contains(out, "读取 300 条，写入 0 条，未变化 297 条，隔离 3 条") || !strings.Contains(out, "已提交") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	empty := filepath.Join(t.TempDir(), "empty.csv")
	os.WriteFile(empty, nil, 0o644)
	out, err = run(t, "", "ingest", "--data", dir, "--dataset", "enterprise", "--json", empty)
	if err == nil || !strings.Contains(out, "文件为空") {
		t.Fatalf("empty file: %v\n%s", err, out)
	}
	jsonLine(t, out, &sum)
	if sum.Status != "failed" || sum.RunID == 0 {
		t.Fatalf("empty file summary: %+v", sum)
	}
	if _, err := run(t, "", "ingest", "--data", dir, "--dataset", "nosuch", file); err == nil {
		t.Fatal("unknown dataset accepted")
	}
	if _, err := run(t, "", "ingest", "--data", dir, "--dataset", "enterprise", filepath.Join(dir, "missing.csv")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestIngestKilledAndRerun runs the real binary on a large-ish file, kills it with SIGKILL
// after some batches have committed, runs it again, and compares the table and the
// quarantine with a clean run: nothing lost, nothing duplicated.
func TestIngestKilledAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "zhsj")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const rows = 50000 // several 16,000-row batches, so that the kill lands between commits
	file := enterpriseFile(t, rows)
	key := strings.Repeat("5a", 32) + "\n"
	storetest.Dialects(t, func(t *testing.T, crashed store.Options) {
		clean := store.Options{DataDir: t.TempDir()}
		if crashed.URL != "" {
			clean.URL = storetest.PostgresURL(t)
		}
		for _, o := range []store.Options{crashed, clean} {
			os.MkdirAll(o.DataDir, 0o700)
			os.WriteFile(filepath.Join(o.DataDir, "secret.key"), []byte(key), 0o600)
		}
		args := func(o store.Options, extra ...string) []string {
			a := []string{"ingest", "--data", o.DataDir, "--dataset", "enterprise", "--quiet"}
			if o.URL != "" {
				a = append(a, "--database-url", o.URL)
			}
			return append(a, extra...)
		}
		// Migrate first so that progress can be watched.
		if out, err := exec.Command(bin, append([]string{"migrate", "up", "--data", crashed.DataDir}, urlFlag(crashed)...)...).CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v %s", err, out)
		}
		db, err := store.Open(context.Background(), crashed)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		cmd := exec.Command(bin, args(crashed, file)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			var up int
			db.Get(context.Background(), &up, `SELECT COALESCE(MAX(upserted), 0) FROM ds_ingest_runs`)
			if up >= 1000 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no progress: %s", stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		var partial int
		db.Get(context.Background(), &partial, `SELECT COUNT(*) FROM ds_enterprise`)
		if partial == 0 || partial >= rows-rows/101-1 {
			t.Fatalf("kill did not land mid-run: %d rows", partial)
		}
		t.Logf("killed after %d rows", partial)
		var status string
		db.Get(context.Background(), &status, `SELECT status FROM ds_ingest_runs ORDER BY id DESC LIMIT 1`)
		if status != "running" {
			t.Fatalf("killed run status %q", status)
		}
		// Rerun to the end, and a clean run elsewhere.
		var sum struct {
			Read, Upserted, Unchanged, Quarantined int64
			Status                                 string
		}
		out, err := exec.Command(bin, args(crashed, "--json", file)...).Output()
		if err != nil {
			t.Fatalf("rerun: %v %s", err, out)
		}
		jsonLine(t, string(out), &sum)
		if sum.Status != "committed" || sum.Read != rows || sum.Upserted+sum.Unchanged != rows-rows/101-1 || sum.Unchanged < int64(partial) {
			t.Fatalf("rerun summary: %+v (partial %d)", sum, partial)
		}
		if out, err := exec.Command(bin, args(clean, file)...).CombinedOutput(); err != nil {
			t.Fatalf("clean run: %v %s", err, out)
		}
		cdb, err := store.Open(context.Background(), clean)
		if err != nil {
			t.Fatal(err)
		}
		defer cdb.Close()
		for _, q := range []string{
			`SELECT uscc || '|' || row_hash || '|' || region_code || '|' || COALESCE(legal_rep_id_no_idx, '') FROM ds_enterprise`,
			`SELECT raw_hash || '|' || status || '|' || errors FROM ds_quarantine`,
		} {
			a, b := lines(t, db, q), lines(t, cdb, q)
			if len(a) != len(b) || strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Fatalf("killed+rerun differs from a clean run for %s: %d vs %d rows", q, len(a), len(b))
			}
			if len(a) == 0 {
				t.Fatalf("nothing to compare for %s", q)
			}
		}
	})
}

func urlFlag(o store.Options) []string {
	if o.URL == "" {
		return nil
	}
	return []string{"--database-url", o.URL}
}

func lines(t *testing.T, db *store.DB, q string) []string {
	t.Helper()
	var out []string
	if err := db.Select(context.Background(), &out, q); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestProgressLines: on a terminal the progress redraws one line (at most every 200 ms); into
// a file or pipe it is a whole line every 5 s, without carriage returns. Each new phase after
// the last batch (index rebuilds) is shown at once, however soon it follows.
func TestProgressLines(t *testing.T) {
	ms := time.Millisecond
	rebuild := func(i int) string {
		return fmt.Sprintf("数据已全部写入，正在重建索引（第 %d 个，共 2 个）", i)
	}
	steps := []struct {
		at    time.Duration
		phase string
	}{{0, ""}, {100 * ms, ""}, {300 * ms, ""}, {4 * time.Second, ""}, {6 * time.Second, ""}, {10 * time.Second, ""},
		{11100 * ms, ""}, {12000 * ms, rebuild(1)}, {12050 * ms, rebuild(2)}, {12100 * ms, rebuild(2)}}
	line := func(pct, bar string, n int, phase string) string {
		return fmt.Sprintf("导入 a.csv %s [%s]  已读 %d 条：写入 %d，未变化 0，隔离 0%s", pct, bar, n, n, phase)
	}
	for _, c := range []struct {
		lines bool
		want  []string
	}{
		{false, []string{
			"\r" + line("  0.0%", "....................", 0, "") + "\x1b[K",
			"\r" + line("  2.5%", "....................", 300, "") + "\x1b[K",
			"\r" + line(" 33.3%", "######..............", 4000, "") + "\x1b[K",
			"\r" + line(" 50.0%", "##########..........", 6000, "") + "\x1b[K",
			"\r" + line(" 83.3%", "################....", 10000, "") + "\x1b[K",
			"\r" + line(" 92.5%", "##################..", 11100, "") + "\x1b[K",
			"\r" + line("100.0%", "####################", 12000, " · "+rebuild(1)) + "\x1b[K",
			"\r" + line("100.0%", "####################", 12000, " · "+rebuild(2)) + "\x1b[K",
			"\n"}},
		{true, []string{
			line("  0.0%", "....................", 0, "") + "\n",
			line(" 50.0%", "##########..........", 6000, "") + "\n",
			line(" 92.5%", "##################..", 11100, "") + "\n",
			line("100.0%", "####################", 12000, " · "+rebuild(1)) + "\n",
			line("100.0%", "####################", 12000, " · "+rebuild(2)) + "\n"}},
	} {
		var b bytes.Buffer
		var clock time.Time
		p := &progressLine{w: &b, name: "a.csv", lines: c.lines, now: func() time.Time { return clock }}
		for _, st := range steps {
			clock = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC).Add(st.at)
			n := min(int64(st.at/ms), 12000)
			p.update(dataset.Progress{Read: n, Upserted: n, BytesRead: n, BytesTotal: 12000, Phase: st.phase})
		}
		p.done()
		if got, want := b.String(), strings.Join(c.want, ""); got != want {
			t.Errorf("lines=%v:\n%q\nwant\n%q", c.lines, got, want)
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}
