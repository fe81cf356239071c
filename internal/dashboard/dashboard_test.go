package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dashboard"
	"zhsj/internal/events"
	"zhsj/internal/indicator"
	"zhsj/internal/indicator/gen"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

var window = gen.Options{Start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Now().UTC()}

// fill writes the tiny fixture into every dataset and computes every indicator.
func fill(t testing.TB, e *apptest.Env) {
	t.Helper()
	ctx := context.Background()
	if err := gen.Fill(ctx, e.App.DB, gen.Tiny, window); err != nil {
		t.Fatal(err)
	}
	// The catalogue's first computation is queued at start; run it now.
	if n, err := e.App.Indicators().Drain(ctx, 0); err != nil || n == 0 {
		t.Fatalf("first computation: %d %v", n, err)
	}
}

// start runs the app's background work (jobs, events) until the test ends.
func start(t testing.TB, e *apptest.Env) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.App.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		e.App.Jobs.Stop()
		time.Sleep(100 * time.Millisecond)
	})
}

func count(t testing.TB, db *store.DB, q string, args ...any) float64 {
	t.Helper()
	var n float64
	if err := db.Get(context.Background(), &n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func widget(t testing.TB, pj dashboard.PageJSON, id string) dashboard.Data {
	t.Helper()
	for _, w := range pj.Widgets {
		if w.ID == id {
			return w
		}
	}
	t.Fatalf("page %s has no widget %s", pj.Page, id)
	return dashboard.Data{}
}

func getPage(t testing.TB, c *apptest.Client, path string) dashboard.PageJSON {
	t.Helper()
	res := c.Do("GET", path, nil)
	if res.Status != 200 {
		t.Fatalf("GET %s: %d %s", path, res.Status, res.Body)
	}
	var pj dashboard.PageJSON
	if err := res.JSON(&pj); err != nil {
		t.Fatal(err)
	}
	return pj
}

// TestEveryCardAndChartHasAnAPI opens every page's API and every widget's own API, checks
// that cards carry number, unit, period and freshness, charts an ECharts option with data,
// and that a card's numbers equal the rows behind it.
func TestEveryCardAndChartHasAnAPI(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("prov", "610000", "analyst")
		fill(t, e)
		c := e.Login("prov")
		for _, p := range dashboard.Pages {
			pj := getPage(t, c, p.APIPath())
			if len(pj.Widgets) != len(p.Widgets) || pj.Region != "610000" {
				t.Fatalf("%s: %d widgets for region %s", p.Key, len(pj.Widgets), pj.Region)
			}
			for _, w := range pj.Widgets {
				if w.Fresh == "" || w.PeriodLabel == "" || w.RegionName == "" {
					t.Errorf("%s/%s lacks period, region or freshness: %+v", p.Key, w.ID, w)
				}
				switch w.Kind {
				case dashboard.KindCard:
					if w.Value == nil || w.Text == "" || w.Unit == "" || w.ComputedAt == nil {
						t.Errorf("%s/%s card: value %v text %q unit %q at %v", p.Key, w.ID, w.Value, w.Text, w.Unit, w.ComputedAt)
					}
				case dashboard.KindTable:
					if w.Table == nil || (w.Table.Total > 0 && len(w.Table.Rows) == 0) {
						t.Errorf("%s/%s table: %+v", p.Key, w.ID, w.Table)
					}
				default:
					if w.Option == nil || w.Empty || len(w.Labels) == 0 {
						t.Errorf("%s/%s chart without data: empty=%v labels=%v", p.Key, w.ID, w.Empty, w.Labels)
					}
				}
				res := c.Do("GET", p.APIPath()+"/"+w.ID, nil)
				var one dashboard.Data
				if res.Status != 200 || res.JSON(&one) != nil || one.ID != w.ID || one.Kind != w.Kind {
					t.Errorf("GET %s/%s: %d %.200s", p.APIPath(), w.ID, res.Status, res.Body)
				}
			}
		}
		// Numbers equal the rows.
		pj := getPage(t, c, "/api/v1/dashboard/sampling?period=2024")
		batches := widget(t, pj, "batches")
		if want := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_sampling WHERE sampling_date LIKE '2024%'`); *batches.Value != want || want == 0 {
			t.Fatalf("2024 batches card %v, rows %v", *batches.Value, want)
		}
		rate := widget(t, pj, "pass_rate")
		passed := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_sampling WHERE sampling_date LIKE '2024%' AND result = '合格'`)
		if got, want := *rate.Value, passed/(*batches.Value)*100; got < want-1e-9 || got > want+1e-9 {
			t.Fatalf("pass rate %v, rows give %v", got, want)
		}
		// The card drills down to exactly its rows, and each row to its record.
		res := c.Do("GET", strings.Replace(batches.Drill, "/dashboard/records", "/api/v1/dashboard/records", 1)+"&size=5", nil)
		var list struct {
			Total int `json:"total"`
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
		}
		if res.Status != 200 || res.JSON(&list) != nil || float64(list.Total) != *batches.Value || len(list.Items) != 5 {
			t.Fatalf("drill-down %s: %d %.300s", batches.Drill, res.Status, res.Body)
		}
		if res := c.Do("GET", fmt.Sprintf("/api/v1/dashboard/records/sampling/%d", list.Items[0].ID), nil); res.Status != 200 || !strings.Contains(string(res.Body), "抽样单编号") {
			t.Fatalf("record: %d %.300s", res.Status, res.Body)
		}
		// A chart segment drills to its region: the bar of 西安 lists Xi'an's rows.
		byRegion := widget(t, pj, "by_region")
		for i, key := range byRegion.Series[0].Keys {
			if key != "610100" {
				continue
			}
			res := c.Do("GET", strings.Replace(byRegion.Series[0].Drill[i], "/dashboard/records", "/api/v1/dashboard/records", 1), nil)
			res.JSON(&list)
			if float64(list.Total) != *byRegion.Series[0].Values[i] {
				t.Fatalf("Xi'an bar %v, drill-down %d", *byRegion.Series[0].Values[i], list.Total)
			}
		}
		// A table exports every matching row with the page's filters (the e-bike search).
		res = c.Do("GET", "/api/v1/dashboard/ebike/export?widget=search&brand="+url.QueryEscape("雅迪"), nil)
		text := xlsxText(t, res.Body)
		want := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_ebike WHERE brand = '雅迪'`)
		if got := float64(strings.Count(text, "\t雅迪\t")); res.Status != 200 || got != want || want < 11 || strings.Contains(text, "爱玛") {
			t.Fatalf("e-bike export: %d, %v rows of 雅迪, want %v", res.Status, got, want)
		}
		// Month-on-month on the data-asset cards.
		assets := getPage(t, c, "/api/v1/dashboard/assets")
		if calls := widget(t, assets, "calls"); calls.MoM == nil || calls.MoM.Text == "" {
			t.Fatalf("calls card without month-on-month: %+v", calls)
		}
		if push := widget(t, assets, "push"); push.Table == nil || len(push.Table.Columns) < 4 || push.Table.Columns[0] != "推送时间" {
			t.Fatalf("push details table: %+v", push.Table)
		}
	})
}

func xlsxText(t testing.TB, body []byte) string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not an XLSX: %v (%.200s)", err, body)
	}
	var b strings.Builder
	for _, sh := range f.GetSheetList() {
		rows, _ := f.GetRows(sh)
		for _, r := range rows {
			b.WriteString(strings.Join(r, "\t") + "\n")
		}
	}
	return b.String()
}

// TestJurisdictionOnAPIAndExport: a Xi'an user sees Xi'an and its counties only — numbers,
// region choices, drill-downs, records and exports — whatever the request asks for.
func TestJurisdictionOnAPIAndExport(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("xa_user", "610100", "analyst")
		fill(t, e)
		c := e.Login("xa_user")
		ctx := context.Background()
		xian := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_sampling WHERE region_code IN (SELECT code FROM regions WHERE path LIKE '/610000/610100/%')`)
		all := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_sampling`)
		if xian == 0 || xian == all {
			t.Fatalf("fixture: %v Xi'an rows of %v", xian, all)
		}
		pj := getPage(t, c, "/api/v1/dashboard/sampling")
		if pj.Region != "610100" || *widget(t, pj, "batches").Value != xian {
			t.Fatalf("Xi'an user: region %s, batches %v, want %v", pj.Region, *widget(t, pj, "batches").Value, xian)
		}
		for _, l := range widget(t, pj, "by_region").Labels {
			if strings.Contains(l, "宝鸡") || strings.Contains(l, "渭滨") {
				t.Fatalf("Xi'an chart shows %s", l)
			}
		}
		// Asking for Baoji is refused, on pages, APIs, drill-downs and exports.
		for _, path := range []string{"/api/v1/dashboard/sampling?region=610300", "/api/v1/dashboard/sampling/batches?region=610302",
			"/api/v1/dashboard/records?ind=SMP_BATCHES&region=610300", "/api/v1/dashboard/sampling/export?region=610300",
			"/api/v1/dashboard/records/export?ind=SMP_BATCHES&region=610300", "/api/v1/indicators/SMP_BATCHES/values?region=610000",
			"/api/v1/dashboard/topics/products?region=610300"} {
			if res := c.Do("GET", path, nil); res.Status != 403 || res.ErrorCode() != "out_of_jurisdiction" {
				t.Errorf("GET %s as Xi'an: %d %.200s", path, res.Status, res.Body)
			}
		}
		if res := c.Do("GET", "/dashboard/sampling?region=610300", nil); res.Status != 403 || !strings.Contains(string(res.Body), "不在您的辖区") {
			t.Errorf("page for Baoji as Xi'an: %d", res.Status)
		}
		// A tampered level cannot widen the rows: the province level still yields Xi'an's rows.
		res := c.Do("GET", "/api/v1/dashboard/records?ind=SMP_BATCHES&region=610100&level=province&size=500", nil)
		var list struct {
			Total int `json:"total"`
			Items []struct {
				Values map[string]string `json:"values"`
			} `json:"items"`
		}
		if res.Status != 200 || res.JSON(&list) != nil || float64(list.Total) != xian {
			t.Fatalf("province-level drill as Xi'an: %d total %d, want %v", res.Status, list.Total, xian)
		}
		for _, it := range list.Items {
			if !strings.Contains(it.Values["region_code"], "6101") {
				t.Fatalf("Xi'an drill-down shows %s", it.Values["region_code"])
			}
		}
		// A Baoji record is not found for a Xi'an user.
		var baoji int64
		e.App.DB.Get(ctx, &baoji, `SELECT MIN(id) FROM ds_sampling WHERE region_code LIKE '6103%'`)
		if res := c.Do("GET", fmt.Sprintf("/api/v1/dashboard/records/sampling/%d", baoji), nil); res.Status != 404 {
			t.Fatalf("Baoji record as Xi'an: %d", res.Status)
		}
		// The e-bike search stays in Xi'an.
		eb := getPage(t, c, "/api/v1/dashboard/ebike/search?size=500")
		_ = eb
		res = c.Do("GET", "/api/v1/dashboard/ebike/search?size=500", nil)
		var search dashboard.Data
		res.JSON(&search)
		wantEB := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_ebike WHERE region_code IN (SELECT code FROM regions WHERE path LIKE '/610000/610100/%')`)
		if search.Table == nil || float64(search.Table.Total) != wantEB {
			t.Fatalf("e-bike search as Xi'an: %+v, want %v", search.Table, wantEB)
		}
		// Exports: only Xi'an in the workbook, and every export is audited.
		for _, path := range []string{"/api/v1/dashboard/sampling/export", "/api/v1/dashboard/records/export?ind=SMP_BATCHES", "/api/v1/dashboard/supervision/export?widget=assessment"} {
			res := c.Do("GET", path, nil)
			if res.Status != 200 || !strings.Contains(res.Header.Get("Content-Type"), "spreadsheetml") {
				t.Fatalf("export %s: %d %.200s", path, res.Status, res.Body)
			}
			text := xlsxText(t, res.Body)
			if strings.Contains(text, "宝鸡") || strings.Contains(text, "610302") || !strings.Contains(text, "西安") {
				t.Fatalf("export %s crosses the jurisdiction:\n%.600s", path, text)
			}
		}
		if n := count(t, e.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'dashboard.export' AND actor = 'xa_user'`); n != 3 {
			t.Fatalf("%v audited exports, want 3", n)
		}
		// The export carries the numbers of the page.
		res = c.Do("GET", "/api/v1/dashboard/sampling/export?widget=batches", nil)
		if text := xlsxText(t, res.Body); !strings.Contains(text, fmt.Sprintf("抽查批次\t%v", xian)) {
			t.Fatalf("card export lacks the number %v:\n%s", xian, text)
		}
	})
}

// TestIngestionReachesOpenPagesWithinFiveSeconds: a committed ingestion (its event) makes the
// job refresh the affected values, the stream tells open pages, and the API shows the new
// number — all within 5 seconds.
func TestIngestionReachesOpenPagesWithinFiveSeconds(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("prov", "610000", "analyst")
		fill(t, e)
		start(t, e)
		c := e.Login("prov")
		before := *widget(t, getPage(t, c, "/api/v1/dashboard/sampling"), "batches").Value

		req, _ := http.NewRequest("GET", e.Server.URL+"/api/v1/dashboard/events", nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := c.HTTP.Do(req.WithContext(ctx))
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("stream: %v %v", err, resp)
		}
		defer resp.Body.Close()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitFor := func(prefix string, d time.Duration) bool {
			deadline := time.After(d)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						return false
					}
					if strings.HasPrefix(l, prefix) {
						return true
					}
				case <-deadline:
					return false
				}
			}
		}
		if !waitFor("event: hello", 3*time.Second) {
			t.Fatal("no hello on the stream")
		}
		// The ingestion: 25 rows committed with their event in one transaction.
		t0 := time.Now()
		err = e.App.DB.InTx(context.Background(), func(tx *store.Tx) error {
			now := store.Now()
			for i := 0; i < 25; i++ {
				if _, err := tx.Exec(context.Background(), `INSERT INTO ds_sampling(batch_no, plan_level, product_name, category_code, sampling_date, region_code, result, row_hash, first_seen_at, last_updated_at)
					VALUES (?, '省', '电饭锅', '02', '2024-05-06', '610113', '合格', 'h', ?, ?)`, fmt.Sprintf("LIVE%03d", i), now, now); err != nil {
					return err
				}
			}
			return events.Publish(context.Background(), tx, "dataset.ingest.committed", map[string]any{"dataset": "sampling", "run_id": 1, "regions": []string{"610113"}, "periods": []string{"2024-05"}})
		})
		if err != nil {
			t.Fatal(err)
		}
		// Every update tells the page to refetch; within 5 s one of them shows the new number.
		var after float64
		for {
			if !waitFor("event: update", time.Until(t0.Add(5*time.Second))) {
				t.Fatalf("the stream did not announce the new values within 5 s of the commit (batches %v, want %v)", after, before+25)
			}
			if after = *widget(t, getPage(t, c, "/api/v1/dashboard/sampling"), "batches").Value; after == before+25 {
				break
			}
		}
		elapsed := time.Since(t0)
		if elapsed > 5*time.Second {
			t.Fatalf("reflected after %v", elapsed)
		}
		t.Logf("ingestion reflected in %v", elapsed)
		// The refresh was incremental and is in the history.
		var runs []struct {
			Kind    string `db:"kind"`
			Dataset string `db:"dataset"`
			Regions string `db:"regions"`
		}
		e.App.DB.Select(context.Background(), &runs, `SELECT kind, dataset, regions FROM ind_runs ORDER BY id DESC LIMIT 1`)
		if len(runs) != 1 || runs[0].Kind != "incremental" || runs[0].Dataset != "sampling" || runs[0].Regions != `["610113"]` {
			t.Fatalf("last run %+v, want an incremental refresh of 610113", runs)
		}
	})
}

// TestCatalogueMaintenance: definitions are versioned, audited and recompute history; bad or
// unsafe definitions are refused; only authorised users maintain them.
func TestCatalogueMaintenance(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("ana", "610000", "analyst")
		e.User("boss", "610000", "leader")
		fill(t, e)
		start(t, e)
		c := e.Login("ana")
		res := c.Do("GET", "/api/v1/indicators", nil)
		var cat struct {
			Items []indicator.Entry `json:"items"`
			Total int               `json:"total"`
		}
		if res.Status != 200 || res.JSON(&cat) != nil || cat.Total < 60 {
			t.Fatalf("catalogue: %d %.200s", res.Status, res.Body)
		}
		for _, en := range cat.Items {
			if en.Definition.Definition == "" || en.Formula == "" || len(en.Lineage) == 0 || len(en.Quality) == 0 {
				t.Errorf("%s lacks definition, formula, lineage or quality: %+v", en.Code, en)
			}
			if en.Kind == indicator.KindAggregate && (en.SQL == "" || en.ComputedAt == nil) {
				t.Errorf("%s lacks SQL or computation time", en.Code)
			}
			for _, q := range en.Quality {
				if q.Score != nil {
					t.Errorf("%s: quality score %v without any quality run", en.Code, *q.Score)
				}
			}
		}
		cur := indicator.Spec{}
		for _, en := range cat.Items {
			if en.Code == "SMP_UNQUALIFIED" {
				cur = en.Spec
			}
		}
		upd := cur
		upd.Filter = "result = '不合格' AND plan_level = '省'"
		res = c.Do("PUT", "/api/v1/indicators/SMP_UNQUALIFIED", map[string]any{"name": upd.Name, "definition": "省级计划的不合格批次", "unit": upd.Unit,
			"library": upd.Library, "groups": upd.Groups, "kind": upd.Kind, "dataset": upd.Dataset, "agg": upd.Agg, "filter": upd.Filter, "periods": upd.Periods, "note": "只统计省级计划"})
		if res.Status != 200 {
			t.Fatalf("update: %d %s", res.Status, res.Body)
		}
		want := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_sampling WHERE result = '不合格' AND plan_level = '省'`)
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := *widget(t, getPage(t, c, "/api/v1/dashboard/sampling"), "unqualified").Value
			if v == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the change the card shows %v, want %v", v, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
		res = c.Do("GET", "/api/v1/indicators/SMP_UNQUALIFIED/versions", nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), "只统计省级计划") || !strings.Contains(string(res.Body), `"version":2`) {
			t.Fatalf("versions: %.400s", res.Body)
		}
		if n := count(t, e.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'indicator.definition.save' AND object_id = 'SMP_UNQUALIFIED'`); n != 1 {
			t.Fatalf("audit rows %v", n)
		}
		if n := count(t, e.App.DB, `SELECT COUNT(*) FROM ind_runs WHERE kind = 'codes' AND codes LIKE '%SMP_UNQUALIFIED%' AND status = 'succeeded'`); n < 1 {
			t.Fatal("no recompute in the history")
		}
		// Refused: writes, other tables, syntax errors, unknown references — with Chinese messages.
		for _, f := range []string{"result = '合格'; DELETE FROM ds_sampling", "producer_uscc IN (SELECT account FROM users)", "result = = '合格'", "nosuchcolumn = 1"} {
			res := c.Do("PUT", "/api/v1/indicators/SMP_UNQUALIFIED", map[string]any{"name": upd.Name, "definition": "x", "unit": upd.Unit, "library": upd.Library,
				"kind": upd.Kind, "dataset": upd.Dataset, "agg": upd.Agg, "filter": f, "periods": upd.Periods})
			if res.Status != 400 || res.ErrorCode() != "bad_indicator" {
				t.Errorf("filter %q: %d %s", f, res.Status, res.Body)
			}
		}
		if res := c.Do("POST", "/api/v1/indicators", map[string]any{"code": "X_RATE", "name": "循环", "definition": "x", "unit": "%", "library": "topic",
			"kind": "ratio", "numerator": "X_RATE", "denominator": "SMP_BATCHES"}); res.Status != 400 {
			t.Errorf("self-referencing ratio: %d %s", res.Status, res.Body)
		}
		// A new topic indicator appears on its topic page.
		res = c.Do("POST", "/api/v1/indicators", map[string]any{"code": "CMP_HOTLINE", "name": "热线投诉", "definition": "经 12315 热线登记的投诉举报", "unit": "件",
			"library": "topic", "groups": []string{"consumption"}, "dataset": "complaint", "agg": "count", "filter": "channel = '12315热线'"})
		if res.Status != 201 {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		wantHot := count(t, e.App.DB, `SELECT COUNT(*) FROM ds_complaint WHERE channel = '12315热线'`)
		deadline = time.Now().Add(10 * time.Second)
		for {
			topic := getPage(t, c, "/api/v1/dashboard/topics/consumption")
			found := false
			for _, w := range topic.Widgets {
				if w.Code == "CMP_HOTLINE" && w.Value != nil && *w.Value == wantHot {
					found = true
				}
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("new indicator not on the topic page with %v", wantHot)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Leaders read the catalogue but cannot change it.
		b := e.Login("boss")
		if res := b.Do("GET", "/api/v1/indicators/SMP_UNQUALIFIED", nil); res.Status != 200 {
			t.Fatalf("leader reads: %d", res.Status)
		}
		if res := b.Do("PUT", "/api/v1/indicators/SMP_UNQUALIFIED", map[string]any{"name": "x"}); res.Status != 403 {
			t.Fatalf("leader writes: %d", res.Status)
		}
	})
}

// TestThemeLibraries: connected themes show datasets with counts, freshness and quality, and
// their indicators; unconnected ones say so and show no number.
func TestThemeLibraries(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		e.User("prov", "610000", "analyst")
		fill(t, e)
		c := e.Login("prov")
		res := c.Do("GET", "/api/v1/dashboard/themes", nil)
		var list struct {
			Items []dashboard.ThemeView `json:"items"`
		}
		if res.Status != 200 || res.JSON(&list) != nil || len(list.Items) != 17 {
			t.Fatalf("themes: %d %.300s", res.Status, res.Body)
		}
		for _, th := range list.Items {
			if (len(th.Datasets) == 0) != (th.HowTo != "") {
				t.Errorf("%s: connected %v, how-to %q", th.Title, th.Connected, th.HowTo)
			}
		}
		res = c.Do("GET", "/api/v1/dashboard/themes/product_quality", nil)
		var th dashboard.ThemeView
		if res.Status != 200 || res.JSON(&th) != nil || !th.Connected || len(th.Indicators) < 10 {
			t.Fatalf("product quality theme: %d %.300s", res.Status, res.Body)
		}
		for _, ds := range th.Datasets {
			want := count(t, e.App.DB, "SELECT COUNT(*) FROM ds_"+ds.Name)
			if float64(ds.Records) != want || ds.UpdatedAt == nil || ds.QualityText != "暂无质量评分" {
				t.Errorf("%s: %+v, want %v records", ds.Name, ds, want)
			}
		}
		ctx := context.Background()
		res = c.Do("GET", "/api/v1/dashboard/themes/metrology", nil)
		if res.JSON(&th) != nil || th.Connected || len(th.Indicators) != 0 || th.HowTo == "" {
			t.Fatalf("metrology (not connected): %.300s", res.Body)
		}
		if res := c.Do("GET", "/dashboard/themes/metrology", nil); !strings.Contains(string(res.Body), "尚未接入数据集") {
			t.Fatalf("page of an unconnected theme: %.300s", res.Body)
		}
		// A theme whose dataset exists but is empty says it has no data, with no numbers.
		e.App.DB.Exec(ctx, `DELETE FROM ds_special_equipment`)
		res = c.Do("GET", "/api/v1/dashboard/themes/special_equipment", nil)
		if res.JSON(&th) != nil || th.Connected || len(th.Indicators) != 0 {
			t.Fatalf("empty special-equipment theme: %.300s", res.Body)
		}
		// Once the quality engine has checked a dataset, its score shows on the theme and in the
		// catalogue: the engine's scoring (equal dimension weights by default) of its latest run.
		now := store.Now()
		runID, err := store.InsertID(ctx, e.App.DB, `INSERT INTO quality_runs(trigger_kind, status, rules_total, started_at, finished_at) VALUES ('manual', 'passed', 3, ?, ?)`, now, now)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range []struct {
			dim  string
			rate float64
		}{{"完整性", 90}, {"完整性", 100}, {"准确性", 80}} {
			if _, err := e.App.DB.Exec(ctx, `INSERT INTO quality_results(run_id, rule_code, rule_name, rule_version, dataset, template, dimension, severity, threshold, checked, failed, pass_rate, status)
				VALUES (?, ?, '规则', 1, 'sampling', 'not_null', ?, 'warning', 0, 100, ?, ?, 'pass')`, runID, fmt.Sprintf("R%d", i), r.dim, int(100-r.rate), r.rate); err != nil {
				t.Fatal(err)
			}
		}
		res = c.Do("GET", "/api/v1/dashboard/themes/product_quality", nil)
		res.JSON(&th)
		for _, ds := range th.Datasets {
			if ds.Name == "sampling" && (ds.Quality == nil || *ds.Quality != 87.5 || ds.QualityText != "87.5 分") {
				t.Errorf("sampling quality on the theme: %v %q", ds.Quality, ds.QualityText)
			}
		}
		res = c.Do("GET", "/api/v1/indicators/SMP_PASS_RATE", nil)
		var en indicator.Entry
		if res.JSON(&en) != nil || len(en.Quality) != 1 || en.Quality[0].Score == nil || *en.Quality[0].Score != 87.5 {
			t.Errorf("catalogue quality of SMP_PASS_RATE: %.300s", res.Body)
		}
		for _, g := range indicator.Topics {
			pj := getPage(t, c, "/api/v1/dashboard/topics/"+g.Key)
			if len(pj.Widgets) == 0 {
				t.Errorf("topic %s has no indicators", g.Title)
			}
		}
	})
}

// TestPagesNeedOneReadConnection: every dashboard page, card, chart and table answers with a
// single read connection. A query issued while a result set is still open needs a second one,
// and under load requests holding one connection each then wait on each other forever.
func TestPagesNeedOneReadConnection(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, storetest.SQLite(t))
	e.User("prov", "610000", "analyst")
	fill(t, e)
	e.App.DB.Reader().SetMaxOpenConns(1)
	c := e.Login("prov")
	done := make(chan error, 1)
	go func() {
		for _, p := range dashboard.Pages {
			for _, path := range append([]string{p.APIPath()}, widgetPaths(p)...) {
				if res := c.Do("GET", path, nil); res.Status != 200 {
					done <- fmt.Errorf("%s: %d", path, res.Status)
					return
				}
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a dashboard request waits for a second read connection")
	}
}

func widgetPaths(p *dashboard.Page) []string {
	var out []string
	for _, w := range p.Widgets {
		out = append(out, p.APIPath()+"/"+w.ID)
	}
	return out
}
