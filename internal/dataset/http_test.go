package dataset_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset"
	"zhsj/internal/dataset/validate"
	"zhsj/internal/store/storetest"
)

// upload posts a file as multipart/form-data.
func upload(t *testing.T, e *apptest.Env, c *apptest.Client, path, name, content string, fields map[string]string) *apptest.Response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, content)
	mw.Close()
	req, _ := http.NewRequest("POST", e.Server.URL+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if strings.HasPrefix(path, "/api/") {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &apptest.Response{Status: resp.StatusCode, Body: body, Header: resp.Header}
}

var (
	yt1 = validate.MakeUSCC('9', '1', "610113", "MA6H0001")
	yt2 = validate.MakeUSCC('9', '1', "610113", "MA6H0002")
	bl  = validate.MakeUSCC('9', '1', "610103", "MA6H0003")
	bj  = validate.MakeUSCC('9', '1', "610302", "MA6H0004")
	id1 = validate.MakeCitizenID("610113", time.Date(1988, 8, 8, 0, 0, 0, 0, time.UTC), 21, true)
)

func enterpriseCSV() string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"统一社会信用代码", "企业名称", "主体类型", "法定代表人", "法定代表人身份证号", "注册资本", "成立日期", "住所", "所属区域", "登记状态", "登记机关"})
	w.WriteAll([][]string{
		{yt1, "雁塔一号科技有限公司", "1130", "甲", id1, "100", "2018-01-01", "雁塔路", "雁塔区", "存续", "雁塔区局"},
		{yt2, "雁塔二号商贸有限公司", "1130", "乙", "", "50", "2019-02-02", "长安路", "雁塔区", "吊销", "雁塔区局"},
		{bl, "碑林三号有限公司", "1100", "丙", "", "10", "2020-03-03", "南大街", "碑林区", "存续", "碑林区局"},
		{bj, "宝鸡四号机械有限公司", "1100", "丁", "", "10", "2021-04-04", "经二路", "宝鸡市渭滨区", "存续", "渭滨区局"},
		{validate.MakeUSCC('9', '1', "610302", "MA6H0005"), "宝鸡未来公司", "1100", "戊", "", "10", "2099-05-05", "经三路", "渭滨区", "存续", ""},
	})
	w.Flush()
	return b.String()
}

func TestHTTPDatasets(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("analyst1", "610000", "analyst")
		e.User("xa_analyst", "610100", "analyst")
		e.User("yt_inspector", "610113", "inspector")
		e.User("leader1", "610000", "leader")
		an, xa, yt, ld := e.Login("analyst1"), e.Login("xa_analyst"), e.Login("yt_inspector"), e.Login("leader1")

		res := upload(t, e, an, "/api/v1/datasets/enterprise/ingest?wait=true", "企业.csv", enterpriseCSV(), nil)
		var sum dataset.Result
		if res.Status != 200 || res.JSON(&sum) != nil || sum.Upserted != 4 || sum.Quarantined != 1 || sum.RunID == 0 {
			t.Fatalf("upload: %d %s", res.Status, res.Body)
		}
		// Catalogue: counts within the caller's scope.
		var list struct{ Items []dataset.Stats }
		an.Do("GET", "/api/v1/datasets", nil).JSON(&list)
		if len(list.Items) != len(dataset.All()) || list.Items[0].Name != "enterprise" || list.Items[0].Records != 4 || list.Items[0].Quarantine != 1 || list.Items[0].LastRun == nil {
			t.Fatalf("catalogue: %+v", list.Items)
		}
		xa.Do("GET", "/api/v1/datasets", nil).JSON(&list)
		if list.Items[0].Records != 3 {
			t.Errorf("西安 sees %d enterprises", list.Items[0].Records)
		}
		// Browse with filters; every read is scoped.
		type page struct {
			Items []dataset.Record
			Total int
		}
		var p page
		an.Do("GET", "/api/v1/datasets/enterprise/records?f_status=存续", nil).JSON(&p)
		if p.Total != 3 {
			t.Errorf("status filter: %d", p.Total)
		}
		an.Do("GET", "/api/v1/datasets/enterprise/records?region=610100&q=雁塔", nil).JSON(&p)
		if p.Total != 2 {
			t.Errorf("region+q filter: %d", p.Total)
		}
		an.Do("GET", "/api/v1/datasets/enterprise/records?from=2019-01-01&to=2020-12-31", nil).JSON(&p)
		if p.Total != 2 {
			t.Errorf("period filter: %d", p.Total)
		}
		if r := an.Do("GET", "/api/v1/datasets/enterprise/records?from=2019-13-45", nil); r.Status != 400 {
			t.Errorf("bad date: %d", r.Status)
		}
		yt.Do("GET", "/api/v1/datasets/enterprise/records", nil).JSON(&p)
		if p.Total != 2 {
			t.Fatalf("雁塔 inspector sees %d", p.Total)
		}
		var bjID, ytID int64
		an.Do("GET", "/api/v1/datasets/enterprise/records?size=500", nil).JSON(&p)
		for _, r := range p.Items {
			switch r.Values["uscc"] {
			case bj:
				bjID = r.ID
			case yt1:
				ytID = r.ID
			}
		}
		if r := xa.Do("GET", fmt.Sprintf("/api/v1/datasets/enterprise/records/%d", bjID), nil); r.Status != 404 {
			t.Errorf("西安 reads a 宝鸡 record: %d", r.Status)
		}
		var rec dataset.Record
		yt.Do("GET", fmt.Sprintf("/api/v1/datasets/enterprise/records/%d", ytID), nil).JSON(&rec)
		if rec.Values["legal_rep_id_no"] != id1[:6]+"********"+id1[14:] || rec.RegionCode != "610113" {
			t.Errorf("detail: %+v", rec.Values)
		}
		if strings.Contains(string(yt.Do("GET", fmt.Sprintf("/api/v1/datasets/enterprise/records/%d", ytID), nil).Body), id1) {
			t.Error("clear ID number in a record response")
		}
		// Unmask needs its permission and is audited.
		if r := yt.Do("POST", fmt.Sprintf("/api/v1/datasets/enterprise/records/%d/unmask", ytID), nil); r.Status != 403 {
			t.Errorf("inspector unmask: %d", r.Status)
		}
		var um struct{ Values map[string]string }
		if r := an.Do("POST", fmt.Sprintf("/api/v1/datasets/enterprise/records/%d/unmask", ytID), nil); r.Status != 200 || r.JSON(&um) != nil || um.Values["legal_rep_id_no"] != id1 {
			t.Fatalf("unmask: %d %s", r.Status, r.Body)
		}
		var audits int
		e.App.DB.Get(t.Context(), &audits, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.record.unmask' AND actor = 'analyst1'`)
		if audits != 1 {
			t.Errorf("unmask audit records: %d", audits)
		}
		if r := ld.Do("GET", "/api/v1/datasets/enterprise/records", nil); r.Status != 403 {
			t.Errorf("leader reads records: %d", r.Status)
		}
		if r := yt.Do("POST", "/api/v1/datasets/enterprise/ingest", nil); r.Status != 403 {
			t.Errorf("inspector uploads: %d", r.Status)
		}

		// Quarantine: list, correct (flat form fields), replay.
		var q struct {
			Items []dataset.QuarantineRow
			Total int
		}
		an.Do("GET", "/api/v1/datasets/enterprise/quarantine", nil).JSON(&q)
		if q.Total != 1 || q.Items[0].Errors[0].Code != validate.CodeDateFuture {
			t.Fatalf("quarantine: %s", an.Do("GET", "/api/v1/datasets/enterprise/quarantine", nil).Body)
		}
		qid := q.Items[0].ID
		xa.Do("GET", "/api/v1/datasets/enterprise/quarantine", nil).JSON(&q)
		if q.Total != 0 {
			t.Errorf("西安 sees a 宝鸡 quarantine row")
		}
		var fix struct {
			Ready  bool
			Errors []dataset.Issue
		}
		if r := an.Do("PATCH", fmt.Sprintf("/api/v1/datasets/enterprise/quarantine/%d", qid), map[string]string{"establish_date": "2009-05-05"}); r.Status != 200 || r.JSON(&fix) != nil || !fix.Ready {
			t.Fatalf("correct: %d %s", r.Status, r.Body)
		}
		var rep struct{ Result dataset.Result }
		if r := an.Do("POST", "/api/v1/datasets/enterprise/quarantine/replay", map[string]any{"ids": []int64{qid}}); r.Status != 200 || r.JSON(&rep) != nil || rep.Result.Upserted != 1 {
			t.Fatalf("replay: %d %s", r.Status, r.Body)
		}

		// A background upload reports progress through its run.
		res = upload(t, e, an, "/api/v1/datasets/enterprise/ingest", "again.csv", enterpriseCSV(), map[string]string{"encoding": "utf-8"})
		var started struct {
			RunID int64 `json:"run_id"`
		}
		if res.Status != 202 || res.JSON(&started) != nil || started.RunID == 0 {
			t.Fatalf("async upload: %d %s", res.Status, res.Body)
		}
		var run dataset.Run
		for i := 0; i < 200; i++ {
			an.Do("GET", fmt.Sprintf("/api/v1/ingest/runs/%d", started.RunID), nil).JSON(&run)
			if run.Status != dataset.StatusRunning {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if run.Status != dataset.StatusCommitted || run.Upserted != 0 || run.Unchanged != 4 || run.Quarantined != 1 {
			t.Fatalf("async run: %+v", run)
		}
		if r := an.Do("POST", fmt.Sprintf("/api/v1/ingest/runs/%d/rerun", started.RunID), nil); r.Status != 202 {
			t.Errorf("rerun: %d %s", r.Status, r.Body)
		}
		if r := upload(t, e, an, "/api/v1/datasets/enterprise/ingest?wait=true", "bad.csv", "", nil); r.Status != 422 || !strings.Contains(string(r.Body), "文件为空") {
			t.Errorf("empty upload: %d %s", r.Status, r.Body)
		}
		if r := upload(t, e, an, "/api/v1/datasets/enterprise/ingest", "x.csv", "a,b\n", map[string]string{"encoding": "ebcdic"}); r.Status != 400 {
			t.Errorf("bad encoding: %d %s", r.Status, r.Body)
		}
		var runs struct{ Total int }
		xa.Do("GET", "/api/v1/ingest/runs", nil).JSON(&runs)
		if runs.Total != 0 {
			t.Errorf("西安 sees the province's runs: %d", runs.Total)
		}

		// Code tables are maintained data.
		if r := an.Do("PUT", "/api/v1/code-tables/sampling_product/items/P900", map[string]any{"name": "电动平衡车", "parent_code": "05"}); r.Status != 200 {
			t.Fatalf("code item: %d %s", r.Status, r.Body)
		}
		var items struct{ Items []dataset.CodeItem }
		an.Do("GET", "/api/v1/code-tables/sampling_product", nil).JSON(&items)
		if last := items.Items[len(items.Items)-1]; last.Code != "P900" || last.Origin != "user" {
			t.Errorf("code items: %+v", last)
		}

		// Pages render for the right people.
		for _, path := range []string{"/datasets", "/datasets/enterprise", fmt.Sprintf("/datasets/enterprise/records/%d", ytID), "/ingest/runs",
			fmt.Sprintf("/ingest/runs/%d", sum.RunID), "/datasets/enterprise/quarantine?status=all", fmt.Sprintf("/datasets/enterprise/quarantine/%d", qid),
			"/datasets/codes", "/datasets/codes?table=industry", "/datasets/enterprise/upload", "/datasets/apicall", "/datasets/ebike", "/ingest/connectors"} {
			r := an.Do("GET", path, nil)
			if r.Status != 200 || !strings.Contains(string(r.Body), "</html>") {
				t.Errorf("page %s: %d", path, r.Status)
			}
		}
		// A running run past its last batch says what it is doing (page and polled fragment).
		phase := "数据已全部写入，正在重建索引（第 3 个，共 7 个）"
		setRun := func(status, phase string) {
			if _, err := e.App.DB.Exec(t.Context(), `UPDATE ds_ingest_runs SET status = ?, phase = ? WHERE id = ?`, status, phase, started.RunID); err != nil {
				t.Fatal(err)
			}
		}
		setRun(dataset.StatusRunning, phase)
		for _, path := range []string{fmt.Sprintf("/ingest/runs/%d", started.RunID), fmt.Sprintf("/ingest/runs/%d/progress", started.RunID)} {
			if body := string(an.Do("GET", path, nil).Body); !strings.Contains(body, phase+"…，页面每秒刷新") || strings.Contains(body, "正在导入…") {
				t.Errorf("%s does not show the phase", path)
			}
		}
		setRun(dataset.StatusCommitted, "")
		if body := string(an.Do("GET", "/datasets/enterprise?f_status=吊销", nil).Body); !strings.Contains(body, "雁塔二号商贸有限公司") || strings.Contains(body, "雁塔一号科技有限公司") {
			t.Errorf("records page filter")
		}
		if r := an.Do("GET", "/datasets/enterprise/records/key?k="+yt1, nil); r.Status != 303 || r.Header.Get("Location") != fmt.Sprintf("/datasets/enterprise/records/%d", ytID) {
			t.Errorf("by key: %d %s", r.Status, r.Header.Get("Location"))
		}
		if r := xa.Do("GET", fmt.Sprintf("/datasets/enterprise/records/%d", bjID), nil); r.Status != 404 {
			t.Errorf("西安 record page of 宝鸡: %d", r.Status)
		}
		r := an.Do("POST", fmt.Sprintf("/datasets/enterprise/records/%d/unmask", ytID), nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), id1) || !strings.Contains(string(r.Body), "记入审计") {
			t.Errorf("unmask page: %d", r.Status)
		}
		r = upload(t, e, an, "/datasets/enterprise/upload", "page.csv", enterpriseCSV(), nil)
		if r.Status != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/ingest/runs/") {
			t.Errorf("page upload: %d %s", r.Status, r.Body)
		}
		if r := upload(t, e, an, "/datasets/enterprise/upload", "", "", nil); r.Status != 400 || !strings.Contains(string(r.Body), "请选择要上传的文件") {
			t.Errorf("page upload without a file: %d", r.Status)
		}
		e.App.DB.Get(t.Context(), &audits, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.ingest.run'`)
		if audits < 3 {
			t.Errorf("ingest audit records: %d", audits)
		}
	})
}

// TestPushEndpoint: the exchange platform pushes batches with an API token and an
// idempotency key; a repeated key answers the first result without running again.
func TestPushEndpoint(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		uid := e.User("exchange1", "610000", "analyst")
		xa := e.User("xa_exchange", "610100", "analyst")
		token := func(id int64, perms ...string) string {
			p, err := e.App.IAM.PrincipalFor(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := e.App.IAM.CreateToken(t.Context(), httptestRequest(), p, "交换平台", perms, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		tok := token(uid, "dataset.push.write")
		push := func(tok, key, body string) *apptest.Response {
			req, _ := http.NewRequest("POST", e.Server.URL+"/api/v1/datasets/enterprise/push", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return &apptest.Response{Status: resp.StatusCode, Body: b, Header: resp.Header}
		}
		batch := fmt.Sprintf(`[{"uscc":%q,"name":"推送一有限公司","region_code":"610113"},{"uscc":%q,"name":"推送二有限公司","region_code":"宝鸡市渭滨区"},{"uscc":"bad","name":"坏记录","region_code":"610113"}]`,
			validate.MakeUSCC('9', '1', "610113", "PU000001"), validate.MakeUSCC('9', '1', "610302", "PU000002"))
		r := push(tok, "batch-0001", batch)
		var res dataset.Result
		if r.Status != 200 || r.JSON(&res) != nil || res.Upserted != 2 || res.Quarantined != 1 {
			t.Fatalf("push: %d %s", r.Status, r.Body)
		}
		var run struct {
			ScheduleType string `json:"schedule_type"`
			SourceKind   string `json:"source_kind"`
		}
		e.Login("exchange1").Do("GET", fmt.Sprintf("/api/v1/ingest/runs/%d", res.RunID), nil).JSON(&run)
		if run.ScheduleType != "realtime" || run.SourceKind != "http_push" {
			t.Errorf("push run: %+v", run)
		}
		again := push(tok, "batch-0001", batch)
		var res2 dataset.Result
		if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || again.JSON(&res2) != nil || res2.RunID != res.RunID {
			t.Fatalf("replayed push: %d %s", again.Status, again.Body)
		}
		var runs int
		e.App.DB.Get(t.Context(), &runs, `SELECT COUNT(*) FROM ds_ingest_runs WHERE source_kind = 'http_push'`)
		if runs != 1 {
			t.Errorf("a repeated key ran again: %d runs", runs)
		}
		if r := push(tok, "batch-0001", `[{"uscc":"x"}]`); r.Status != 409 {
			t.Errorf("key reused with other content: %d %s", r.Status, r.Body)
		}
		if r := push("", "k", batch); r.Status != 401 {
			t.Errorf("push without a token: %d", r.Status)
		}
		if r := push(token(uid, "dataset.enterprise.read"), "k2", batch); r.Status != 403 {
			t.Errorf("push with a read-only token: %d", r.Status)
		}
		if r := push(tok, "k3", `{"records":[]}`); r.Status != 400 {
			t.Errorf("empty batch: %d", r.Status)
		}
		// A Xi'an token cannot push 宝鸡 records: they wait in the quarantine.
		r = push(token(xa, "dataset.push.write"), "xa-1", batch)
		if r.Status != 200 || r.JSON(&res) != nil || res.Upserted+res.Unchanged != 1 || res.Quarantined != 2 {
			t.Fatalf("scoped push: %d %s", r.Status, r.Body)
		}
	})
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequest("POST", "http://localhost/", nil)
	return r
}

// TestUploadChoosesWorksheet: the upload form's 工作表 field picks the XLSX sheet to read.
func TestUploadChoosesWorksheet(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	e.User("analyst1", "610000", "analyst")
	an := e.Login("analyst1")
	x := excelize.NewFile()
	x.SetCellValue("Sheet1", "A1", "说明：数据在“企业”工作表")
	x.NewSheet("企业")
	recs, _ := csv.NewReader(strings.NewReader(enterpriseCSV())).ReadAll()
	for r, row := range recs {
		for i, v := range row {
			cell, _ := excelize.CoordinatesToCellName(i+1, r+1)
			x.SetCellValue("企业", cell, v)
		}
	}
	var xb bytes.Buffer
	x.Write(&xb)
	res := upload(t, e, an, "/api/v1/datasets/enterprise/ingest?wait=true", "企业.xlsx", xb.String(), map[string]string{"sheet": "企业"})
	var sum dataset.Result
	if res.Status != 200 || res.JSON(&sum) != nil || sum.Upserted != 4 || sum.Quarantined != 1 {
		t.Fatalf("upload with sheet: %d %s", res.Status, res.Body)
	}
	if page := an.Do("GET", "/datasets/enterprise/upload", nil); page.Status != 200 || !strings.Contains(string(page.Body), `name="sheet"`) {
		t.Fatalf("upload page lacks the worksheet field: %d", page.Status)
	}
}
