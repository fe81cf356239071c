package inspect

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"os/exec"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"zhsj/internal/gm"
	"zhsj/internal/report"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// ReportData is everything the standard report shows.
type ReportData struct {
	Run         Run
	Plan        Plan
	Items       []Item
	Findings    []Finding // found or still open in this run
	Closed      []Finding // closed by this run (复查通过)
	Categories  []CategorySummary
	Version     int
	GeneratedAt time.Time
	AppVersion  string
	ReportNo    string
}

// CategorySummary is one line of the scope table.
type CategorySummary struct {
	Category, Label string
	Items           int
	Names           string
	Worst           string
}

// Period is the inspected span in Chinese.
func (d ReportData) Period() string {
	return d.Run.PeriodStart.In(shanghai).Format("2006-01-02 15:04") + " 至 " + d.Run.PeriodEnd.In(shanghai).Format("2006-01-02 15:04")
}

func (d ReportData) reviewer() string {
	if d.Run.ReviewedAt != nil {
		return d.Run.Reviewer
	}
	return firstNonEmpty(d.Run.Reviewer, "（待复核）")
}

// reportData reads a run's report from q (a transaction while the run is being saved).
func (s *Service) reportData(ctx context.Context, q store.Q, runID int64, version int) (*ReportData, error) {
	d := &ReportData{Version: version, GeneratedAt: s.Now(), AppVersion: s.opt.Version}
	if err := q.Get(ctx, &d.Run, `SELECT `+runCols+` FROM inspect_runs WHERE id = ?`, runID); err != nil {
		return nil, err
	}
	if err := q.Get(ctx, &d.Plan, `SELECT `+planCols+` FROM inspect_plans WHERE id = ?`, d.Run.PlanID); err != nil {
		return nil, err
	}
	if err := q.Select(ctx, &d.Items, `SELECT `+itemCols+` FROM inspect_items WHERE run_id = ? ORDER BY seq`, runID); err != nil {
		return nil, err
	}
	if err := q.Select(ctx, &d.Findings, `SELECT `+findingCols+` FROM inspect_findings WHERE (run_id = ? OR last_run_id = ?) AND (closed_run_id IS NULL OR closed_run_id <> ?) ORDER BY id`, runID, runID, runID); err != nil {
		return nil, err
	}
	if err := q.Select(ctx, &d.Closed, `SELECT `+findingCols+` FROM inspect_findings WHERE closed_run_id = ? ORDER BY id`, runID); err != nil {
		return nil, err
	}
	d.ReportNo = fmt.Sprintf("XJ-%s-%06d-V%d", d.Run.StartedAt.In(shanghai).Format("20060102"), runID, version)
	for _, c := range Categories {
		cs := CategorySummary{Category: c, Label: CategoryLabels[c], Worst: Normal}
		var names []byte
		for _, it := range d.Items {
			if it.Category != c {
				continue
			}
			cs.Items++
			if len(names) > 0 {
				names = append(names, "、"...)
			}
			names = append(names, it.Name...)
			if rank[it.Conclusion] > rank[cs.Worst] {
				cs.Worst = it.Conclusion
			}
		}
		if cs.Items > 0 {
			cs.Names = string(names)
			d.Categories = append(d.Categories, cs)
		}
	}
	return d, nil
}

// Tables are the report's sheets: cover, scope, overview, items, findings, sign-off.
func (d *ReportData) Tables() []report.Table {
	r := d.Run
	cover := report.Table{Title: "封面", Columns: []string{"项目", "内容"}, Rows: [][]any{
		{"报告名称", d.Plan.SystemName + "巡检报告"},
		{"报告编号", d.ReportNo},
		{"系统名称", d.Plan.SystemName},
		{"巡检计划", r.PlanName},
		{"巡检周期", r.CycleLabel()},
		{"巡检期间", d.Period()},
		{"巡检时间", r.StartedAt},
		{"巡检人", r.Inspector},
		{"复核人", d.reviewer()},
		{"程序版本", d.AppVersion},
		{"报告版本", d.Version},
		{"生成时间", d.GeneratedAt},
	}}
	scope := report.Table{Title: "巡检范围", Meta: []string{"范围说明：" + firstNonEmpty(d.Plan.Scope, d.Plan.CategoryNames())},
		Columns: []string{"类别", "检查项数", "检查内容", "最差结论"}}
	for _, c := range d.Categories {
		scope.Rows = append(scope.Rows, []any{c.Label, c.Items, c.Names, ConclusionLabels[c.Worst]})
	}
	prev := func(v *int) any {
		if v == nil {
			return "—"
		}
		return *v
	}
	opened, persisting := 0, 0
	for _, f := range d.Findings {
		if f.RunID == r.ID {
			opened++
		} else {
			persisting++
		}
	}
	overview := report.Table{Title: "结果总览", Meta: []string{r.Summary}, Columns: []string{"指标", "本次", "上次", "说明"}, Rows: [][]any{
		{"健康评分", r.Score, prev(r.PrevScore), r.ScoreDelta()},
		{"正常", r.NormalCount, "", ""},
		{"警告", r.WarningCount, "", ""},
		{"严重", r.CriticalCount, "", ""},
		{"检查失败", r.FailedCount, "", ""},
		{"不适用", r.NACount, "", ""},
		{"新增隐患", opened, "", ""},
		{"持续未整改隐患", persisting, "", ""},
		{"复查关闭隐患", len(d.Closed), "", ""},
	}}
	items := report.Table{Title: "分项明细", Columns: []string{"序号", "类别", "检查项", "检查方法", "标准/阈值", "实测值", "结论", "风险等级", "较上期", "整改建议"}}
	for _, it := range d.Items {
		items.Rows = append(items.Rows, []any{it.Seq, it.CategoryLabel(), it.Name, it.Method, it.Threshold, it.Measured, it.ConclusionLabel(), it.RiskLabel(), it.Trend(), it.Advice})
	}
	findings := report.Table{Title: "隐患与整改", Columns: []string{"编号", "隐患", "风险等级", "责任人", "整改期限", "状态", "整改建议", "整改措施", "说明"}}
	for _, f := range d.Findings {
		findings.Rows = append(findings.Rows, []any{f.ID, f.Title, f.RiskLabel(), firstNonEmpty(f.Owner, "（未指定）"), f.Deadline, f.StatusLabel(), f.Advice, f.Rectification, f.Detail})
	}
	for _, f := range d.Closed {
		findings.Rows = append(findings.Rows, []any{f.ID, f.Title, f.RiskLabel(), firstNonEmpty(f.Owner, "（未指定）"), f.Deadline, "已整改（复查通过）", f.Advice, f.Rectification, f.ClosedNote})
	}
	reviewedAt := any("")
	if r.ReviewedAt != nil {
		reviewedAt = *r.ReviewedAt
	}
	sign := report.Table{Title: "签字确认", Meta: []string{"复核意见：" + firstNonEmpty(r.ReviewNote, "—")},
		Columns: []string{"角色", "姓名", "签字", "日期"}, Rows: [][]any{
			{"巡检人", r.Inspector, "", r.StartedAt},
			{"复核人", d.reviewer(), "", reviewedAt},
			{"审批人", "", "", ""},
		}}
	return []report.Table{cover, scope, overview, items, findings, sign}
}

//go:embed report.tmpl.html
var reportTemplate string

var printTmpl = template.Must(template.New("report").Funcs(web.Funcs()).Funcs(template.FuncMap{
	"conclusion": func(c string) string { return ConclusionLabels[c] },
}).Parse(reportTemplate))

// HTML renders the printable report: a self-contained page (styles inline, no scripts)
// that prints on A4 and is archived as it was issued.
func (d *ReportData) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := printTmpl.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// archive stores the run's report as XLSX and HTML under the next version number.
func (s *Service) archive(ctx context.Context, q store.Q, runID int64, by string) error {
	var version int
	if err := q.Get(ctx, &version, `SELECT COALESCE(MAX(version), 0) + 1 FROM inspect_reports WHERE run_id = ?`, runID); err != nil {
		return err
	}
	d, err := s.reportData(ctx, q, runID, version)
	if err != nil {
		return err
	}
	var x bytes.Buffer
	if err := report.WriteXLSX(&x, d.Tables()...); err != nil {
		return err
	}
	h, err := d.HTML()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		format string
		b      []byte
	}{{"xlsx", x.Bytes()}, {"html", h}} {
		if err := storeReport(ctx, q, runID, version, f.format, f.b, by, s.Now()); err != nil {
			return err
		}
	}
	return nil
}

func storeReport(ctx context.Context, q store.Q, runID int64, version int, format string, b []byte, by string, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO inspect_reports (run_id, version, format, content, sm3, size_bytes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, version, format) DO NOTHING`, runID, version, format, b, hex.EncodeToString(gm.SM3(b)), len(b), by, now)
	return err
}

// ArchivedReport is one stored report file.
type ArchivedReport struct {
	Version   int       `db:"version"`
	Format    string    `db:"format"`
	Content   []byte    `db:"content"`
	SM3       string    `db:"sm3"`
	CreatedAt time.Time `db:"created_at"`
}

// Archived returns the newest archived report of a run in format; a PDF is rendered from
// the archived HTML of the same version on first request and archived too.
func (s *Service) Archived(ctx context.Context, runID int64, format, by string) (*ArchivedReport, error) {
	var a ArchivedReport
	src := format
	if format == "pdf" {
		src = "html"
	}
	if err := s.db.Get(ctx, &a, `SELECT version, format, content, sm3, created_at FROM inspect_reports WHERE run_id = ? AND format = ? ORDER BY version DESC LIMIT 1`, runID, src); err != nil {
		return nil, err
	}
	if format != "pdf" {
		return &a, nil
	}
	var p ArchivedReport
	err := s.db.Get(ctx, &p, `SELECT version, format, content, sm3, created_at FROM inspect_reports WHERE run_id = ? AND format = 'pdf' AND version = ?`, runID, a.Version)
	if err == nil {
		return &p, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	pdf, err := s.opt.PDF(ctx, a.Content)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := storeReport(ctx, s.db, runID, a.Version, "pdf", pdf, by, now); err != nil {
		return nil, err
	}
	return &ArchivedReport{Version: a.Version, Format: "pdf", Content: pdf, SM3: hex.EncodeToString(gm.SM3(pdf)), CreatedAt: now}, nil
}

// ErrNoChromium means PDF output needs Chromium, which is not installed.
var ErrNoChromium = errors.New("本机未安装 Chromium，无法生成 PDF；请下载 HTML 版本用浏览器打印，或安装 chromium 后重试")

func chromiumPath() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// chromiumPDF prints html to an A4 PDF with headless Chromium.
func chromiumPDF(ctx context.Context, html []byte) ([]byte, error) {
	path := chromiumPath()
	if path == "" {
		return nil, ErrNoChromium
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true))
	defer cancelA()
	cctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	err := chromedp.Do(cctx,
		chromedp.Navigate("about:blank"),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
			if err != nil {
				return err
			}
			_, err = chromedp.Call(ctx, page.SetDocumentContent, page.SetDocumentContentParams{FrameID: tree.FrameTree.Frame.ID, HTML: string(html)})
			return err
		}))
	var pdf []byte
	if err == nil {
		pdf, err = chromedp.Run(cctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground(), chromedp.PDFPreferCSSPageSize()))
	}
	if err != nil {
		return nil, fmt.Errorf("Chromium 生成 PDF 失败: %w", err)
	}
	return pdf, nil
}
