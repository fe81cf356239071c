package desk_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
	"zhsj/internal/iam"
)

type reportJSON struct {
	Report desk.Report     `json:"report"`
	Data   desk.ReportData `json:"data"`
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// TestReportNumbersEqualDirectQueries builds a month of varied service-desk work, generates
// the monthly report through the API and checks every number against queries written
// independently here, the archived XLSX and printable HTML, the annual report's month row,
// the scheduled generation's idempotence and the region scope of a city engineer's report.
func TestReportNumbersEqualDirectQueries(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		e.approverRole()
		engID := e.User("eng", "610000", "engineer")
		e.User("xian", "610100", "engineer")
		e.User("approver", "610000", "bureau")
		e.User("boss", "610000", "leader")
		eng, xa, approver, boss := e.Login("eng"), e.Login("xian"), e.Login("approver"), e.Login("boss")

		t1 := create(t, eng, map[string]any{"title": "主体服务页面缓慢"})
		t2 := create(t, eng, map[string]any{"title": "APP 照片上传失败"})
		t3 := create(t, xa, map[string]any{"title": "西安许可接口失败", "system": "许可备案", "category": "接口失败"})
		t4 := create(t, eng, map[string]any{"title": "许可备案系统升级", "change_kind": "upgrade"})
		t5 := create(t, eng, map[string]any{"title": "许可证有效期数据修正", "change_kind": "data_fix"})
		t6 := create(t, eng, map[string]any{"title": "统计口径不一致"})
		e.clock.Advance(10 * time.Minute)
		through(t, eng, t1.ID, engID, 2, 2, desk.StateClosed)
		e.clock.Advance(20 * time.Minute)
		through(t, eng, t2.ID, engID, 4, 4, desk.StateVerifying)
		for _, x := range []struct {
			id      int64
			approve bool
		}{{t4.ID, true}, {t5.ID, false}} {
			through(t, eng, x.id, engID, 3, 3, desk.StateInvestigating)
			res := eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/approvals", x.id), map[string]any{"reason": "变更申请说明"})
			mustStatus(t, res, 201, "approval")
			apID := int64(decode[map[string]any](t, res)["id"].(float64))
			mustStatus(t, approver.Do("POST", fmt.Sprintf("/api/v1/desk/approvals/%d/decision", apID), map[string]any{"approve": x.approve, "comment": "局方审核意见"}), 200, "decide")
		}
		step(t, eng, t4.ID, map[string]any{"action": "handle", "note": "执行升级"})
		step(t, eng, t4.ID, map[string]any{"action": "resolve", "cause": "旧版本打印缺陷", "method": "升级至 3.2 版本"})
		step(t, eng, t4.ID, map[string]any{"action": "close", "verify_result": "打印正常"})
		through(t, eng, t6.ID, engID, 1, 3, desk.StateVerifying)
		step(t, eng, t6.ID, map[string]any{"action": "reopen", "note": "用户仍有疑问"})
		e.clock.Advance(2 * time.Hour)
		e.evaluate() // t3 (never arranged) breaches its hour
		var t3clock int64
		e.App.DB.Get(e.ctx, &t3clock, `SELECT id FROM desk_sla_clocks WHERE ticket_id = ? AND target = 'arrange'`, t3.ID)
		mustStatus(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/clocks/%d/explanation", t3.ID, t3clock), map[string]any{"explanation": "西安局提交后电话未接通"}), 200, "explain")
		for _, tr := range []map[string]any{
			{"title": "业务操作培训", "held_at": "2026-03-10 14:30", "audience": "operator", "mode": "offline", "planned": 40, "attendees": 35, "materials": "操作手册"},
			{"title": "系统维护培训", "held_at": "2026-03-20T09:00:00+08:00", "audience": "admin", "mode": "online", "planned": 10, "attendees": 10},
			{"title": "四月培训", "held_at": "2026-04-05 09:00", "audience": "operator", "planned": 5, "attendees": 5},
		} {
			mustStatus(t, eng.Do("POST", "/api/v1/desk/trainings", tr), 201, "training")
		}
		mustError(t, eng.Do("POST", "/api/v1/desk/trainings", map[string]any{"title": "x", "held_at": "昨天", "audience": "operator"}), 400, "bad_held_at", "bad time")
		mustError(t, eng.Do("POST", "/api/v1/desk/trainings", map[string]any{"title": "x", "held_at": "2026-03-01", "audience": "operator", "planned": 3, "attendees": 4}), 400, "bad_count", "over-attendance")
		e.clock.Set(at("2026-04-03 10:00"))
		create(t, eng, map[string]any{"title": "四月的运维单"})

		// Generate the March report through the API.
		mustError(t, eng.Do("POST", "/api/v1/desk/reports", map[string]any{"kind": "monthly", "period": "2026-3"}), 400, "bad_period", "bad period")
		res := boss.Do("POST", "/api/v1/desk/reports", map[string]any{"kind": "monthly", "period": "2026-03"})
		mustStatus(t, res, 201, "generate")
		repID := int64(decode[map[string]any](t, res)["id"].(float64))
		rep := decode[reportJSON](t, boss.Do("GET", fmt.Sprintf("/api/v1/desk/reports/%d", repID), nil))
		rd := rep.Data
		from, to := at("2026-03-01 00:00"), at("2026-04-01 00:00")

		// Headline numbers by direct SQL.
		q := func(where string, args ...any) int {
			return e.count(`SELECT COUNT(*) FROM desk_tickets WHERE created_at >= ? AND created_at < ? AND `+where, append([]any{from, to}, args...)...)
		}
		checks := []struct {
			name      string
			got, want int
		}{
			{"created", rd.Created, q("1=1")},
			{"closed", rd.Closed, q("state = 'closed' AND close_code = 'resolved'")},
			{"refused", rd.Refused, q("close_code = 'refused'")},
			{"open", rd.Open, q("state <> 'closed'")},
			{"reopened", rd.Reopened, q("reopen_count > 0")},
			{"changes", len(rd.Changes), q("change_kind <> ''")},
			{"breaches", len(rd.Breaches), e.count(`SELECT COUNT(*) FROM desk_sla_clocks WHERE breached_at >= ? AND breached_at < ? AND status <> 'cancelled'`, from, to)},
			{"trainings", rd.Training.Sessions, e.count(`SELECT COUNT(*) FROM desk_trainings WHERE held_at >= ? AND held_at < ?`, from, to)},
			{"attendees", rd.Training.Attendees, e.count(`SELECT COALESCE(SUM(attendees), 0) FROM desk_trainings WHERE held_at >= ? AND held_at < ?`, from, to)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: report %d, query %d", c.name, c.got, c.want)
			}
		}
		// And the values this scenario makes: 6 March tickets, one of each outcome.
		if rd.Created != 6 || rd.Closed != 2 || rd.Refused != 1 || rd.Open != 3 || rd.Reopened != 1 || len(rd.Changes) != 2 || rd.Training.Sessions != 2 || rd.Training.Attendees != 45 {
			t.Errorf("scenario numbers: %+v", rd)
		}
		// Breakdowns against GROUP BY queries.
		groups := func(col string) map[string]int {
			var rows []struct {
				K string `db:"k"`
				N int    `db:"n"`
			}
			if err := e.App.DB.Select(e.ctx, &rows, `SELECT CAST(`+col+` AS TEXT) AS k, COUNT(*) AS n FROM desk_tickets WHERE created_at >= ? AND created_at < ? GROUP BY `+col, from, to); err != nil {
				t.Fatal(err)
			}
			m := map[string]int{}
			for _, r := range rows {
				m[r.K] = r.N
			}
			return m
		}
		toMap := func(cs []desk.Count, rename func(string) string) map[string]int {
			m := map[string]int{}
			for _, c := range cs {
				m[rename(c.Name)] = c.Count
			}
			return m
		}
		unreg := func(s string) string {
			if s == "未登记" {
				return ""
			}
			return s
		}
		gradeKey := func(s string) string {
			for g, n := range desk.GradeNames {
				if n == s {
					return fmt.Sprint(g)
				}
			}
			return "0"
		}
		for _, g := range []struct {
			name      string
			got, want map[string]int
		}{
			{"category", toMap(rd.ByCategory, unreg), groups("category")},
			{"system", toMap(rd.BySystem, unreg), groups("system")},
			{"grade", toMap(rd.ByGrade, gradeKey), groups("grade")},
		} {
			if fmt.Sprint(g.got) != fmt.Sprint(g.want) {
				t.Errorf("by %s: report %v, query %v", g.name, g.got, g.want)
			}
		}
		// SLA compliance per target.
		for _, s := range rd.SLA {
			where := `c.target = ? AND c.status <> 'cancelled' AND t.created_at >= ? AND t.created_at < ?`
			total := e.count(`SELECT COUNT(*) FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id WHERE `+where, s.Code, from, to)
			met := e.count(`SELECT COUNT(*) FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id WHERE c.status = 'stopped' AND c.breached_at IS NULL AND `+where, s.Code, from, to)
			breached := e.count(`SELECT COUNT(*) FROM desk_sla_clocks c JOIN desk_tickets t ON t.id = c.ticket_id WHERE c.breached_at IS NOT NULL AND `+where, s.Code, from, to)
			if s.Total != total || s.Met != met || s.Breached != breached || s.Open != total-met-breached {
				t.Errorf("SLA %s: report %d/%d/%d, query %d/%d/%d", s.Code, s.Total, s.Met, s.Breached, total, met, breached)
			}
			if met+breached > 0 && (s.Rate == nil || *s.Rate != round1(float64(met)*100/float64(met+breached))) {
				t.Errorf("SLA %s rate %v", s.Code, s.Rate)
			}
		}
		if rd.SLA[0].Code != "arrange" || rd.SLA[0].Breached != 1 {
			t.Errorf("arrange row %+v", rd.SLA[0])
		}
		// Mean times by direct averages.
		var avg struct {
			Ack *float64 `db:"ack"`
			Res *float64 `db:"res"`
		}
		e.App.DB.Get(e.ctx, &avg, `SELECT CAST(AVG(ack_ms) AS DOUBLE PRECISION) AS ack, CAST(AVG(resolve_ms) AS DOUBLE PRECISION) AS res
			FROM desk_tickets WHERE created_at >= ? AND created_at < ?`, from, to)
		if rd.MTTA == nil || *rd.MTTA != round1(*avg.Ack/60000) || rd.MTTR == nil || *rd.MTTR != round1(*avg.Res/60000) {
			t.Errorf("MTTA %v MTTR %v, queries %v %v", rd.MTTA, rd.MTTR, *avg.Ack/60000, *avg.Res/60000)
		}
		// Breaches carry their explanations.
		if len(rd.Breaches) != 1 || rd.Breaches[0].TicketID != t3.ID || rd.Breaches[0].Explanation != "西安局提交后电话未接通" {
			t.Errorf("breaches %+v", rd.Breaches)
		}
		// Sections from other modules say plainly when there is nothing.
		for name, s := range map[string]desk.Section{"availability": rd.Availability, "inspections": rd.Inspections, "quality": rd.Quality} {
			if !s.Available && !strings.HasPrefix(s.Note, desk.NoData) {
				t.Errorf("%s: %+v", name, s)
			}
		}
		if rd.Availability.Available {
			t.Errorf("availability without probe data: %+v", rd.Availability)
		}

		// The archived XLSX holds the same numbers.
		res = boss.Do("GET", fmt.Sprintf("/api/v1/desk/reports/%d/xlsx", repID), nil)
		mustStatus(t, res, 200, "xlsx")
		f, err := excelize.OpenReader(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := f.GetRows("概况")
		found := false
		for _, r := range rows {
			if len(r) == 2 && r[0] == "受理运维单（个）" && r[1] == fmt.Sprint(rd.Created) {
				found = true
			}
		}
		if !found {
			t.Errorf("XLSX overview %v", rows)
		}
		if sheets := f.GetSheetList(); strings.Join(sheets, ",") != "概况,分类统计,SLA 达成,超时明细,运维中心,变更与升级,培训记录" {
			t.Errorf("sheets %v", sheets)
		}
		// The printable HTML is archived as generated.
		res = boss.Do("GET", fmt.Sprintf("/desk/reports/%d/print", repID), nil)
		html := string(res.Body)
		if res.Status != 200 || !strings.Contains(html, "运维服务工作月报（2026年3月）") || !strings.Contains(html, `<td class="num" id="r-created">6</td>`) || !strings.Contains(html, "西安局提交后电话未接通") {
			t.Errorf("print %d %s", res.Status, html[:min(len(html), 400)])
		}
		if page := boss.Do("GET", fmt.Sprintf("/desk/reports/%d", repID), nil); page.Status != 200 || !strings.Contains(string(page.Body), `data-chart="report-chart"`) {
			t.Errorf("report page %d", page.Status)
		}

		// The annual report has the same numbers in its March row.
		res = eng.Do("POST", "/api/v1/desk/reports", map[string]any{"kind": "annual", "period": "2026"})
		mustStatus(t, res, 201, "annual")
		ann := decode[reportJSON](t, eng.Do("GET", fmt.Sprintf("/api/v1/desk/reports/%d", int64(decode[map[string]any](t, res)["id"].(float64))), nil)).Data
		if len(ann.Months) != 12 || ann.Months[2].Created != rd.Created || ann.Months[2].Closed != rd.Closed || ann.Months[2].Breaches != 1 ||
			ann.Months[2].Trainings != 2 || ann.Months[3].Created != 1 || ann.Months[3].Trainings != 1 || ann.Created != rd.Created+1 {
			t.Errorf("annual months %+v", ann.Months[:4])
		}
		if *ann.Months[2].MTTA != *rd.MTTA || *ann.Months[2].SLARate != *rd.SLARate {
			t.Errorf("annual March %+v vs monthly %v %v", ann.Months[2], *rd.MTTA, *rd.SLARate)
		}

		// Scheduled generation archives once per period; manual ones add versions.
		id1, err := e.desk.Generate(e.ctx, nil, iam.System(), desk.ReportMonthly, "2026-03", "schedule")
		if err != nil {
			t.Fatal(err)
		}
		id2, _ := e.desk.Generate(e.ctx, nil, iam.System(), desk.ReportMonthly, "2026-03", "schedule")
		if id1 != id2 || e.count(`SELECT COUNT(*) FROM desk_reports WHERE kind = 'monthly' AND period = '2026-03'`) != 2 {
			t.Errorf("scheduled twice: %d %d", id1, id2)
		}
		if e.desk.PreviousPeriod(desk.ReportMonthly) != "2026-03" || e.desk.PreviousPeriod(desk.ReportAnnual) != "2025" {
			t.Errorf("previous period %s %s", e.desk.PreviousPeriod(desk.ReportMonthly), e.desk.PreviousPeriod(desk.ReportAnnual))
		}

		// A Xi'an engineer's report counts Xi'an tickets only, and he sees only his archive.
		res = xa.Do("POST", "/api/v1/desk/reports", map[string]any{"kind": "monthly", "period": "2026-03"})
		mustStatus(t, res, 201, "xian report")
		xid := int64(decode[map[string]any](t, res)["id"].(float64))
		xrd := decode[reportJSON](t, xa.Do("GET", fmt.Sprintf("/api/v1/desk/reports/%d", xid), nil)).Data
		if xrd.Created != 1 || len(xrd.Breaches) != 1 || !strings.Contains(xrd.Title, "西安") || xrd.Alerts.Available {
			t.Errorf("xian report %+v", xrd)
		}
		mustError(t, xa.Do("GET", fmt.Sprintf("/api/v1/desk/reports/%d", repID), nil), 404, "not_found", "xian reads province report")
		list := decode[struct {
			Items []desk.Report `json:"items"`
		}](t, xa.Do("GET", "/api/v1/desk/reports", nil))
		if len(list.Items) != 1 || list.Items[0].ID != xid {
			t.Errorf("xian archive %+v", list.Items)
		}
		// Generating is audited; an inspector may not read reports.
		if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'desk.report.generate'`); n != 4 {
			t.Errorf("generate audited %d times", n)
		}
		e.User("yanta", "610113", "inspector")
		mustError(t, e.Login("yanta").Do("GET", "/api/v1/desk/reports", nil), 403, "forbidden", "inspector reads reports")
	})
}
