package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dashboard"
	"zhsj/internal/events"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// chartsReady waits until every chart of the page is rendered by app.js and returns, per
// chart, the number of data points of its first series.
func chartsReady(t *testing.T, b *apptest.Browser, what string) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`(function(){
			var els = document.querySelectorAll('[data-chart]');
			var out = [];
			for (var i = 0; i < els.length; i++) {
				if (!els[i].hasAttribute('data-rendered') || !window.echarts) { return 'waiting'; }
				var c = window.echarts.getInstanceByDom(els[i]);
				var s = c && c.getOption().series;
				var n = 0;
				if (s && s[0] && s[0].data) { s[0].data.forEach(function(d){ var v = d && typeof d === 'object' ? d.value : d; if (v !== null && v !== undefined) { n++; } }); }
				out.push(n);
			}
			return JSON.stringify(out);
		})()`))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if res != "waiting" {
			var counts []int
			for _, f := range strings.Split(strings.Trim(res, "[]"), ",") {
				var n int
				fmt.Sscan(f, &n)
				if f != "" {
					counts = append(counts, n)
				}
			}
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: charts not rendered", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func evalBool(t *testing.T, b *apptest.Browser, js string) bool {
	t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// browserEnv starts the app with the fixture and a Chromium logged in as a province analyst.
func browserEnv(t *testing.T) (*apptest.Env, *apptest.Browser) {
	e := apptest.New(t, storetest.SQLite(t))
	b := apptest.NewBrowser(t, 1280, 900)
	e.User("analyst_b", "610000", "analyst")
	fill(t, e)
	start(t, e)
	b.LogIn(e.Server.URL+"/login", "analyst_b", "#home-title")
	return e, b
}

// TestDashboardsInBrowser opens every dashboard in Chromium: charts render with data (the
// data-rendered attribute app.js sets, and the ECharts series), every card shows its
// freshness, and no page logs a JavaScript error. Screenshots go to the test's temp dir.
func TestDashboardsInBrowser(t *testing.T) {
	began := time.Now()
	e, b := browserEnv(t)

	for _, p := range dashboard.Pages {
		b.Do(chromedp.Navigate(e.Server.URL+p.Path()), chromedp.WaitVisible(chromedp.CSS("#live-root")))
		counts := chartsReady(t, b, p.Key)
		charts := 0
		for _, w := range p.Widgets {
			if w.Kind != dashboard.KindCard && w.Kind != dashboard.KindTable {
				charts++
			}
		}
		if len(counts) != charts {
			t.Errorf("%s: %d charts rendered, %d declared", p.Key, len(counts), charts)
		}
		for i, n := range counts {
			if n == 0 {
				t.Errorf("%s: chart %d has no data", p.Key, i)
			}
		}
		if !evalBool(t, b, `document.querySelectorAll('.stat .fresh').length > 0 && Array.from(document.querySelectorAll('.stat .fresh')).every(function(e){ return e.textContent.indexOf('计算于') === 0; })`) {
			t.Errorf("%s: a card without its freshness", p.Key)
		}
		b.Screenshot("dashboard-" + p.Key)
		t.Logf("%s rendered (%v)", p.Key, time.Since(began))
	}

	time.Sleep(200 * time.Millisecond)
	b.NoErrors()
}

// TestFilterAndDrillDownInBrowser changes the region filter (the numbers and the chart follow),
// drills down from a chart segment and from a card to the records behind them and to a
// record, and searches e-bike registrations.
func TestFilterAndDrillDownInBrowser(t *testing.T) {
	e, b := browserEnv(t)
	b.Do(chromedp.Navigate(e.Server.URL+"/dashboard/sampling"), chromedp.WaitVisible(chromedp.CSS("#card-batches")))
	chartsReady(t, b, "sampling")
	all := b.Text("#card-batches .num")
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(function(){ var s = document.getElementById('filter-region'); s.value = '610100'; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.Location(), "region=610100") {
		if time.Now().After(deadline) {
			t.Fatalf("filter did not reload the page: %s", b.Location())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Do(chromedp.WaitVisible(chromedp.CSS("#card-batches")))
	chartsReady(t, b, "sampling Xi'an")
	xian := b.Text("#card-batches .num")
	if xian == all {
		t.Errorf("Xi'an shows the province's number %s", all)
	}
	if !evalBool(t, b, `(function(){ var c = echarts.getInstanceByDom(document.querySelector('#widget-by_region .chart')); var cats = c.getOption().xAxis[0].data; return cats.indexOf('雁塔区') >= 0 && cats.indexOf('西安市') < 0 && cats.indexOf('宝鸡市') < 0; })()`) {
		t.Error("Xi'an chart does not show Xi'an's districts")
	}
	b.Screenshot("filter-xian")

	// A chart segment drills down: click the bar of 雁塔区 (one series, so the bar is centred).
	pos, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]float64](`(function(){
		var el = document.querySelector('#widget-pass_rate_by_region .chart'); el.scrollIntoView();
		var c = echarts.getInstanceByDom(el); var o = c.getOption();
		var i = o.xAxis[0].data.indexOf('雁塔区'); var v = o.series[0].data[i].value;
		var p = c.convertToPixel({seriesIndex: 0}, [i, v / 2]); var r = el.getBoundingClientRect();
		return [r.left + p[0], r.top + p[1]]; })()`))
	if err != nil || len(pos) != 2 {
		t.Fatalf("bar position: %v %v", pos, err)
	}
	b.Do(chromedp.MouseClickXY(pos[0], pos[1]), chromedp.WaitVisible(chromedp.CSS("#records-table")))
	if !strings.Contains(b.Location(), "region=610113") {
		t.Fatalf("bar click went to %s", b.Location())
	}
	b.Screenshot("drill-bar-yanta")
	// And a card drills down to its rows, then to a record.
	b.Do(chromedp.Navigate(e.Server.URL+"/dashboard/sampling?region=610100"), chromedp.WaitVisible(chromedp.CSS("#card-batches")),
		chromedp.Click(chromedp.CSS("#card-batches")), chromedp.WaitVisible(chromedp.CSS("#records-table")))
	if total := b.Text("#records-total"); strings.ReplaceAll(xian, ",", "") != total {
		t.Errorf("card %s, drill-down lists %s records", xian, total)
	}
	b.Screenshot("drill-card")
	b.Do(chromedp.Click(chromedp.CSS("#records-table tbody a")), chromedp.WaitVisible(chromedp.CSS("#record-detail")))
	if txt := b.Text("#record-detail"); !strings.Contains(txt, "抽样单编号") || !strings.Contains(txt, "西安") && !strings.Contains(txt, "6101") {
		t.Errorf("record detail: %s", txt)
	}
	b.Screenshot("record")

	// E-bike search with paging and detail.
	b.Do(chromedp.Navigate(e.Server.URL+"/dashboard/ebike"), chromedp.WaitVisible(chromedp.CSS("#ebike-brand")),
		chromedp.SendKeys(chromedp.CSS("#ebike-brand"), "雅迪"), chromedp.Click(chromedp.CSS("#ebike-submit")))
	// The search replaces the table; poll until the unfiltered rows are gone.
	filtered := `(function(){ var t = document.querySelector('#table-search tbody'); if (!t) return false;
		var s = t.innerText; return s.indexOf('雅迪') >= 0 && s.indexOf('爱玛') < 0 && s.indexOf('台铃') < 0; })()`
	if !b.WaitJS(filtered, 15*time.Second) {
		t.Fatalf("e-bike search for 雅迪: %s", b.Text("#table-search tbody"))
	}
	b.Screenshot("ebike-search")
	time.Sleep(200 * time.Millisecond)
	b.NoErrors()
}

// TestLiveRefreshAndLibrariesInBrowser: an ingestion committed while a dashboard is open shows
// up on it within 5 seconds without a reload (Server-Sent Events); the theme and topic
// libraries and the indicator catalogue render, topics with charts that have data; the data
// asset dashboard fits a phone.
func TestLiveRefreshAndLibrariesInBrowser(t *testing.T) {
	e, b := browserEnv(t)
	b.Do(chromedp.Navigate(e.Server.URL+"/dashboard/sampling"), chromedp.WaitVisible(chromedp.CSS("#card-batches")))
	chartsReady(t, b, "sampling live")
	deadline := time.Now().Add(5 * time.Second)
	for !evalBool(t, b, `document.body.getAttribute('data-live-connected') === '1'`) {
		if time.Now().After(deadline) {
			t.Fatal("the page did not open its event stream")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := b.Text("#card-batches .num")
	t0 := time.Now()
	err := e.App.DB.InTx(context.Background(), func(tx *store.Tx) error {
		now := store.Now()
		for i := 0; i < 7; i++ {
			if _, err := tx.Exec(context.Background(), `INSERT INTO ds_sampling(batch_no, plan_level, product_name, category_code, sampling_date, region_code, result, row_hash, first_seen_at, last_updated_at)
				VALUES (?, '省', '电饭锅', '02', '2024-05-06', '610102', '合格', 'h', ?, ?)`, fmt.Sprintf("BROWSER%03d", i), now, now); err != nil {
				return err
			}
		}
		return events.Publish(context.Background(), tx, "dataset.ingest.committed", map[string]any{"dataset": "sampling", "run_id": 2, "regions": []string{"610102"}, "periods": []string{"2024-05"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	num := func(s string) int {
		var n int
		fmt.Sscan(strings.ReplaceAll(s, ",", ""), &n)
		return n
	}
	// Polled by a script: the card is replaced while it refreshes, and a read in between
	// would find no node.
	refreshed := fmt.Sprintf(`(() => { const e = document.querySelector("#card-batches .num");
		return !!e && parseInt(e.textContent.replace(/,/g, ""), 10) === %d })()`, num(before)+7)
	if !b.WaitJS(refreshed, 5*time.Second) {
		t.Fatalf("open page not refreshed within 5 s (was %s)", before)
	}
	t.Logf("open page refreshed in %v: %s → %d", time.Since(t0), before, num(before)+7)
	chartsReady(t, b, "sampling after refresh")
	b.Screenshot("live-refreshed")

	// Theme and topic libraries, and the catalogue.
	for _, path := range []string{"/dashboard/themes", "/dashboard/themes/product_quality", "/dashboard/themes/metrology", "/dashboard/topics", "/dashboard/topics/risk", "/dashboard/topics/opinion", "/indicators", "/indicators/SMP_COVERAGE"} {
		b.Do(chromedp.Navigate(e.Server.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if strings.Contains(path, "/topics/") {
			for i, n := range chartsReady(t, b, path) {
				if n == 0 {
					t.Errorf("%s: chart %d without data", path, i)
				}
			}
		}
		b.Screenshot(strings.ReplaceAll(strings.Trim(path, "/"), "/", "-"))
	}
	if txt := b.Text("main"); !strings.Contains(txt, "统计期内被抽查的在营工业产品生产企业数") || !strings.Contains(txt, "市场主体") || !strings.Contains(txt, "暂无质量评分") {
		t.Errorf("coverage definition page: %.300s", txt)
	}
	// Phone width: the dashboard fits.
	b.Do(chromedp.EmulateViewport(375, 740), chromedp.Navigate(e.Server.URL+"/dashboard/assets"), chromedp.WaitVisible(chromedp.CSS("#card-calls")))
	chartsReady(t, b, "assets phone")
	if w, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("assets overflows the phone width: %d px", w)
	}
	b.Screenshot("assets-375")
	time.Sleep(200 * time.Millisecond)
	b.NoErrors()
}

// TestIndicatorEditInBrowser maintains a definition through the catalogue's form: an unsafe
// filter is refused with its Chinese reason on the page, a valid one is saved as version 2.
func TestIndicatorEditInBrowser(t *testing.T) {
	e, b := browserEnv(t)
	b.Do(chromedp.Navigate(e.Server.URL+"/indicators/SMP_UNQUALIFIED"), chromedp.WaitVisible(chromedp.CSS("#f-filter")))
	setFilter := func(v string) {
		if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(function(){ document.getElementById('f-filter').value = `+"`"+v+"`"+`; document.getElementById('f-note').value = '浏览器测试'; return true; })()`)); err != nil {
			t.Fatal(err)
		}
	}
	setFilter("result = '不合格'; DROP TABLE ds_sampling")
	b.Do(chromedp.Click(chromedp.CSS("#indicator-save")), chromedp.WaitVisible(chromedp.CSS("#indicator-form .notice.bad")))
	if msg := b.Text("#indicator-form .notice.bad"); !strings.Contains(msg, "不允许的字符") {
		t.Fatalf("refusal message: %q", msg)
	}
	b.Screenshot("indicator-refused")
	setFilter("result = '不合格' AND stage = '电商'")
	b.Do(chromedp.Click(chromedp.CSS("#indicator-save")))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v int
		e.App.DB.Get(context.Background(), &v, `SELECT version FROM ind_definitions WHERE code = 'SMP_UNQUALIFIED'`)
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the form did not save a new version")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The form reloads the page after saving; the reloaded table lists version 2.
	b.WaitText("#indicator-versions", "浏览器测试", 20*time.Second)
	b.Screenshot("indicator-saved")
	time.Sleep(200 * time.Millisecond)
	b.NoErrors()
}
