package desk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Benchmarks of the speed goals on SQLite with 100,000 tickets (a year of them, with
// their SLA clocks) and 5,000 knowledge articles:
//
//	go test -run '^$' -bench 'TicketList|KBSearch|MonthlyReport' -benchtime 200x ./internal/desk/
//
// Each reports the p95 latency of one operation as p95-ms.

const (
	benchTickets  = 100000
	benchArticles = 5000
)

var bench struct {
	once sync.Once
	dir  string
	keep bool // ZHSJ_DESK_BENCH_DIR: reuse the data set across runs
	db   *store.DB
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.db != nil {
		bench.db.Close()
	}
	if bench.dir != "" && !bench.keep {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// benchDB builds the data set once per run.
func benchDB(b *testing.B) *store.DB {
	b.Helper()
	bench.once.Do(func() {
		ctx := context.Background()
		start := time.Now()
		if bench.dir = os.Getenv("ZHSJ_DESK_BENCH_DIR"); bench.dir != "" {
			bench.keep = true
		} else if bench.dir, bench.err = os.MkdirTemp("", "desk-bench-"); bench.err != nil {
			return
		}
		if bench.db, bench.err = store.OpenMigrated(ctx, store.Options{DataDir: bench.dir}); bench.err != nil {
			return
		}
		var n int
		if bench.err = bench.db.Get(ctx, &n, `SELECT COUNT(*) FROM desk_tickets`); bench.err != nil || n == benchTickets {
			return
		}
		if bench.err = iam.LoadRegions(ctx, bench.db); bench.err != nil {
			return
		}
		if bench.err = seedBenchTickets(ctx, bench.db); bench.err != nil {
			return
		}
		if bench.err = seedBenchArticles(ctx, bench.db); bench.err != nil {
			return
		}
		_, bench.err = bench.db.Exec(ctx, `ANALYZE`)
		fmt.Fprintf(os.Stderr, "desk bench data: %d tickets, %d articles in %v\n", benchTickets, benchArticles, time.Since(start).Round(time.Second))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.db
}

var benchSystems = []string{"主体服务", "许可备案", "综合监管", "投诉举报", "稽查办案", "质量服务", "风险防控", "数据资产", "远程监控", "市监全貌", "智慧市监APP", "统一认证"}

func seedBenchTickets(ctx context.Context, db *store.DB) error {
	r := rand.New(rand.NewPCG(1, 2))
	var regions []string
	if err := db.Select(ctx, &regions, `SELECT code FROM regions ORDER BY code`); err != nil {
		return err
	}
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai())
	// Ticket ids follow their acceptance time, as they do in service.
	times := make([]time.Time, benchTickets)
	for i := range times {
		times[i] = year.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).UTC().Truncate(time.Millisecond)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	states := []string{StateAccepted, StateRegistered, StateGraded, StateResponded, StateInvestigating, StateHandling, StateVerifying, StateClosed, StateClosed, StateClosed, StateClosed, StatePending}
	df := map[string]int{}
	var postings []any
	return db.InTx(ctx, func(tx *store.Tx) error {
		const batch = 500
		flush := func() error {
			for len(postings) > 0 {
				n := min(len(postings), 2*500)
				if _, err := tx.Exec(ctx, `INSERT INTO desk_ticket_terms(term, ticket_id) VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?),", n/2), ","), postings[:n]...); err != nil {
					return err
				}
				postings = postings[n:]
			}
			return nil
		}
		for i := 0; i < benchTickets; i += batch {
			var sb, cb strings.Builder
			var args, cargs []any
			sb.WriteString(`INSERT INTO desk_tickets(id, no, title, description, source, state, category, system, reporter, impact, urgency, grade,
				change_kind, approval, acknowledged_at, resolved_at, closed_at, ack_ms, resolve_ms, close_code, created_month, region_code, created_at, updated_at) VALUES `)
			cb.WriteString(`INSERT INTO desk_sla_clocks(ticket_id, target, minutes, warn_pct, calendar_id, status, started_at, stopped_at, elapsed_ms, breached_at) VALUES `)
			for j := 0; j < batch; j++ {
				id := int64(i + j + 1)
				created := times[id-1]
				state := states[r.IntN(len(states))]
				grade := 0
				if state != StateAccepted && state != StateRegistered {
					grade = 1 + r.IntN(4)
				}
				sys := benchSystems[r.IntN(len(benchSystems))]
				cat := Categories[r.IntN(len(Categories))]
				change := ""
				if r.IntN(20) == 0 {
					change = []string{"upgrade", "data_fix", "config"}[r.IntN(3)]
				}
				var ack, res, closed *time.Time
				var ackMS, resMS *int64
				closeCode := ""
				if grade > 0 && state != StateGraded {
					a := created.Add(time.Duration(5+r.IntN(70)) * time.Minute)
					ms := a.Sub(created).Milliseconds()
					ack, ackMS = &a, &ms
				}
				if state == StateVerifying || state == StateClosed {
					x := created.Add(time.Duration(20+r.IntN(2000)) * time.Minute)
					ms := x.Sub(created).Milliseconds()
					res, resMS = &x, &ms
					if state == StateClosed {
						c := x.Add(time.Hour)
						closed, closeCode = &c, "resolved"
					}
				}
				if j > 0 {
					sb.WriteString(", ")
					cb.WriteString(", ")
				}
				sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				title := fmt.Sprintf("%s%s：%s（%d）", sys, cat, benchSymptoms[r.IntN(len(benchSymptoms))], id)
				for _, t := range Terms(title) {
					df[t]++
					postings = append(postings, t, id)
				}
				args = append(args, id, ticketNo(id, created), title, "批量生成的基准数据", []string{"web", "mobile", "api", "alert", "inspection"}[r.IntN(5)],
					state, cat, sys, "基准用户", min(grade, 4), min(grade, 4), grade, change, map[bool]string{true: "approved", false: ""}[change != ""],
					ack, res, closed, ackMS, resMS, closeCode, monthOf(created), regions[r.IntN(len(regions))], created, created)
				// The arrangement clock, stopped (5 % breached) or running.
				status, stopped, breached, elapsedMS := ClockRunning, (*time.Time)(nil), (*time.Time)(nil), int64(0)
				if ack != nil {
					status, stopped, elapsedMS = ClockStopped, ack, *ackMS
					if *ackMS > 3600000 {
						bt := created.Add(time.Hour)
						breached = &bt
					}
				}
				cb.WriteString("(?, 'arrange', 60, 80, 1, ?, ?, ?, ?, ?), (?, 'timetable', 1440, 80, 1, ?, ?, ?, ?, NULL)")
				cargs = append(cargs, id, status, created, stopped, elapsedMS, breached, id, map[bool]string{true: ClockStopped, false: ClockRunning}[res != nil], created, res, int64(0))
			}
			if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, cb.String(), cargs...); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
		for t, n := range df {
			if _, err := tx.Exec(ctx, `INSERT INTO desk_ticket_term_df(term, n) VALUES (?, ?)`, t, n); err != nil {
				return err
			}
		}
		return nil
	})
}

var (
	benchSymptoms = []string{"页面打开缓慢", "登录提示票据无效", "接口调用返回 502", "统计数据与明细不一致", "上传附件失败", "视频无法播放", "表空间不足写入失败",
		"导出报表超时", "短信验证码收不到", "证照打印错位", "地图定位偏移", "消息推送延迟", "数据同步中断", "权限菜单缺失", "查询结果为空"}
	benchCauses = []string{"数据库连接池耗尽", "中间件超时配置过短", "服务器时间不同步", "证书过期", "防火墙策略调整", "归档日志占满磁盘", "安全软件误报拦截",
		"统计任务执行顺序错误", "缓存未及时刷新", "索引缺失导致慢查询", "第三方接口变更", "网络链路抖动"}
	benchSolutions = []string{"扩大连接池并优化慢查询", "调整超时时间并分批处理", "校准 NTP 时间同步", "更新证书并增加到期预警", "放通相关端口",
		"清理归档日志并配置自动清理", "将应用目录加入白名单", "调整任务触发顺序并重算", "刷新缓存并缩短过期时间", "补建索引", "适配新接口版本", "切换备用链路"}
)

func seedBenchArticles(ctx context.Context, db *store.DB) error {
	r := rand.New(rand.NewPCG(3, 4))
	now := store.Now()
	return db.InTx(ctx, func(tx *store.Tx) error {
		for i := 1; i <= benchArticles; i++ {
			sys := benchSystems[r.IntN(len(benchSystems))]
			a := &Article{ID: int64(i), Title: fmt.Sprintf("%s%s（案例 %d）", sys, benchSymptoms[r.IntN(len(benchSymptoms))], i),
				Symptom:  benchSymptoms[r.IntN(len(benchSymptoms))] + "，" + benchSymptoms[r.IntN(len(benchSymptoms))] + "，用户反映影响业务办理",
				Cause:    benchCauses[r.IntN(len(benchCauses))] + "，" + benchCauses[r.IntN(len(benchCauses))],
				Solution: "1. " + benchSolutions[r.IntN(len(benchSolutions))] + "；2. " + benchSolutions[r.IntN(len(benchSolutions))] + "；3. 观察 30 分钟确认恢复",
				Systems:  sys, Tags: Categories[r.IntN(len(Categories))]}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_articles(id, title, symptom, cause, solution, systems, tags, status, author, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'published', '基准', ?, ?)`, a.ID, a.Title, a.Symptom, a.Cause, a.Solution, a.Systems, a.Tags, now, now); err != nil {
				return err
			}
			if err := indexArticle(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// p95 runs op b.N times and reports the 95th and 50th percentile latency, and the CPU time
// per operation (which, unlike latency, does not grow when other work shares the machine).
func p95(b *testing.B, op func(i int) error) {
	b.Helper()
	d := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
}

// engineer is a province-wide principal; county is a county inspector.
func benchPrincipals() (engineer, county *iam.Principal) {
	engineer = &iam.Principal{UserID: 1, Account: "eng", Region: iam.ProvinceCode, RegionPath: "/610000/", Scopes: []iam.RoleScope{{Kind: iam.ScopeAll}}}
	county = &iam.Principal{UserID: 2, Account: "yt", Region: "610113", RegionPath: "/610000/610100/610113/", Scopes: []iam.RoleScope{{Kind: iam.ScopeAll}}}
	return
}

func BenchmarkTicketList(b *testing.B) {
	d := New(benchDB(b), Options{})
	eng, county := benchPrincipals()
	filters := []struct {
		p *iam.Principal
		f TicketFilter
	}{
		{eng, TicketFilter{}},
		{eng, TicketFilter{State: StateInvestigating}},
		{eng, TicketFilter{Category: "接口失败", Grade: 2}},
		{eng, TicketFilter{System: "许可备案", Open: true}},
		{eng, TicketFilter{Source: "alert", State: StateAccepted}},
		{eng, TicketFilter{Q: "稽查办案数据错误"}},
		{eng, TicketFilter{Q: "票据无效"}},
		{eng, TicketFilter{Q: "YW20260315012345"}},
		{county, TicketFilter{}},
		{county, TicketFilter{Open: true, Category: "数据错误"}},
		{eng, TicketFilter{Open: true}},
	}
	ctx := context.Background()
	p95(b, func(i int) error {
		x := filters[i%len(filters)]
		_, err := d.ListTickets(ctx, x.p, x.f, web.Page{Page: 1 + i%3, Size: 20})
		return err
	})
}

// BenchmarkTicketListByFilter measures each filter of BenchmarkTicketList alone.
func BenchmarkTicketListByFilter(b *testing.B) {
	d := New(benchDB(b), Options{})
	eng, county := benchPrincipals()
	for _, x := range []struct {
		name string
		p    *iam.Principal
		f    TicketFilter
	}{
		{"all", eng, TicketFilter{}},
		{"state", eng, TicketFilter{State: StateInvestigating}},
		{"category+grade", eng, TicketFilter{Category: "接口失败", Grade: 2}},
		{"system+open", eng, TicketFilter{System: "许可备案", Open: true}},
		{"source+state", eng, TicketFilter{Source: "alert", State: StateAccepted}},
		{"title", eng, TicketFilter{Q: "稽查办案数据错误"}},
		{"title-rare", eng, TicketFilter{Q: "票据无效"}},
		{"title-1char", eng, TicketFilter{Q: "慢"}},
		{"number", eng, TicketFilter{Q: "YW20260315012345"}},
		{"county", county, TicketFilter{}},
		{"county+open+category", county, TicketFilter{Open: true, Category: "数据错误"}},
		{"open", eng, TicketFilter{Open: true}},
	} {
		b.Run(x.name, func(b *testing.B) {
			ctx := context.Background()
			p95(b, func(i int) error {
				_, err := d.ListTickets(ctx, x.p, x.f, web.Page{Page: 1, Size: 20})
				return err
			})
		})
	}
}

func BenchmarkKBSearch(b *testing.B) {
	d := New(benchDB(b), Options{})
	queries := []string{"数据库连接池", "登录提示票据无效", "接口 502", "表空间", "证书过期导致上传失败", "慢", "统计数据不一致", "许可备案导出报表超时",
		"防火墙", "视频无法播放", "短信验证码", "NTP 时间同步", "投诉举报数据同步中断怎么处理", "缓存"}
	ctx := context.Background()
	p95(b, func(i int) error {
		_, err := d.Search(ctx, SearchFilter{Q: queries[i%len(queries)]}, web.Page{Page: 1, Size: 20})
		return err
	})
}

func BenchmarkKBSuggest(b *testing.B) {
	d := New(benchDB(b), Options{})
	texts := []string{"许可备案系统接口调用返回 502，推送数据失败", "用户登录时提示票据无效需要重新登录", "稽查办案保存案件时报错表空间不足"}
	ctx := context.Background()
	p95(b, func(i int) error {
		_, err := d.Suggest(ctx, texts[i%len(texts)], "许可备案", 5)
		return err
	})
}

// BenchmarkMonthlyReport generates and archives a whole monthly report (numbers, printable
// HTML and XLSX) over the ~8,500 tickets of March among the 100,000.
func BenchmarkMonthlyReport(b *testing.B) {
	d := New(benchDB(b), Options{})
	d.SetClock(func() time.Time { return time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC) })
	eng, _ := benchPrincipals()
	eng.Name = "基准"
	ctx := context.Background()
	p95(b, func(i int) error {
		_, err := d.Generate(ctx, nil, eng, ReportMonthly, "2026-03", "manual")
		return err
	})
}

// BenchmarkAnnualReport generates the annual summary over all 100,000 tickets.
func BenchmarkAnnualReport(b *testing.B) {
	d := New(benchDB(b), Options{})
	eng, _ := benchPrincipals()
	eng.Name = "基准"
	ctx := context.Background()
	p95(b, func(i int) error {
		_, err := d.Generate(ctx, nil, eng, ReportAnnual, "2026", "manual")
		return err
	})
}
