package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"zhsj/internal/config"
	"zhsj/internal/dataset"
	"zhsj/internal/dataset/validate"
)

// TestIngestRunsConnector: `zhsj ingest --connector NAME` runs a data-source connector by hand,
// as the page's 立即运行 does: an HTTP pull of a paged JSON API into its dataset, the summary in
// the same JSON shape as a file's, and nothing written twice when run again.
func TestIngestRunsConnector(t *testing.T) {
	records := []map[string]any{}
	for i := range 5 {
		records = append(records, map[string]any{"uscc": validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("%08d", 700+i)),
			"name": fmt.Sprintf("拉取企业%d有限公司", i), "region_code": "610113", "establish_date": "2015-03-04", "status": "存续"})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var page, size int
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		fmt.Sscan(r.URL.Query().Get("size"), &size)
		from, to := min((page-1)*size, len(records)), min(page*size, len(records))
		json.NewEncoder(w).Encode(map[string]any{"data": records[from:to]})
	}))
	defer srv.Close()

	dir := t.TempDir()
	c := &cobra.Command{}
	config.AddFlags(c.Flags())
	c.Flags().Set("data", dir)
	a, err := openApp(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	m := dataset.New(dataset.Deps{DB: a.DB, Keys: a.Keys, Audit: a.Audit, IAM: a.IAM, Logger: a.Log})
	if _, err := m.SaveConnector(context.Background(), nil, 0, dataset.ConnectorInput{Name: "省交换平台企业", Dataset: "enterprise",
		Kind: dataset.ConnHTTPPull, Config: dataset.ConnectorConfig{URL: srv.URL, RecordsPath: "data", PageSize: 2}}); err != nil {
		t.Fatal(err)
	}
	a.DB.Close()

	var sum struct {
		Dataset, Status                        string
		Read, Upserted, Unchanged, Quarantined int64
		RunID                                  int64 `json:"run_id"`
	}
	out, err := run(t, "", "ingest", "--data", dir, "--connector", "省交换平台企业", "--json")
	if err != nil {
		t.Fatalf("connector run: %v\n%s", err, out)
	}
	jsonLine(t, out, &sum)
	if sum.Dataset != "enterprise" || sum.Status != "committed" || sum.Read != 5 || sum.Upserted != 5 || sum.RunID == 0 {
		t.Fatalf("summary: %+v", sum)
	}
	// By number, in Chinese: nothing new.
	out, err = run(t, "", "ingest", "--data", dir, "--connector", "1")
	if err != nil || !strings.Contains(out, "读取 5 条，写入 0 条，未变化 5 条") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if out, err := run(t, "", "ingest", "--data", dir, "--connector", "不存在"); err == nil || !strings.Contains(err.Error(), "已配置：省交换平台企业") {
		t.Fatalf("unknown connector: %v\n%s", err, out)
	}
	if _, err := run(t, "", "ingest", "--data", dir, "--connector", "省交换平台企业", "--dataset", "licence"); err == nil {
		t.Fatal("a connector of another dataset ran under --dataset licence")
	}
	if _, err := run(t, "", "ingest", "--data", dir); err == nil {
		t.Fatal("ingest without files or connector accepted")
	}
}
