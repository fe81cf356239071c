package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zhsj/internal/dataset"
)

// TestIngestUnknownDataset: a --dataset that names no dataset is reported as such, with the
// valid names, and fails before any database is opened; --json answers with a failed summary.
// Without --dataset the command asks for one.
func TestIngestUnknownDataset(t *testing.T) {
	dir := t.TempDir()
	file := enterpriseFile(t, 3)
	for _, asJSON := range []bool{false, true} {
		args := []string{"ingest", "--data", dir, "--dataset", "nosuch", "--quiet"}
		if asJSON {
			args = append(args, "--json")
		}
		out, err := run(t, "", append(args, file)...)
		if err == nil {
			t.Fatalf("json=%v: unknown dataset accepted: %s", asJSON, out)
		}
		msg := err.Error()
		if !strings.Contains(msg, `"nosuch"`) || !strings.Contains(msg, "不存在") || strings.Contains(msg, "请用 --dataset") {
			t.Errorf("json=%v: error %q", asJSON, msg)
		}
		for _, name := range dataset.Names() {
			if !strings.Contains(msg, name) {
				t.Errorf("json=%v: error %q does not list %s", asJSON, msg, name)
			}
		}
		if asJSON {
			var sum ingestSummary
			jsonLine(t, out, &sum)
			if sum.Status != dataset.StatusFailed || sum.Dataset != "nosuch" || sum.Error != msg || sum.RunID != 0 {
				t.Errorf("json summary %+v", sum)
			}
		} else if out != "" {
			t.Errorf("output without --json: %q", out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("an unknown dataset opened the database: %v", entries)
	}

	out, err := run(t, "", "ingest", "--data", dir, file)
	if err == nil || !strings.Contains(err.Error(), "请用 --dataset 指定数据集") {
		t.Fatalf("missing --dataset: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "zhsj.db")); err == nil {
		t.Error("a missing --dataset opened the database")
	}
}
