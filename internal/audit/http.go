package audit

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"zhsj/internal/report"
	"zhsj/internal/web"
)

// Permissions of the audit module.
const (
	PermRead   = "audit.log.read"
	PermExport = "audit.log.export"
)

// MaxExport is the most records one export may hold.
const MaxExport = 100000

//go:embed templates
var templates embed.FS

// Templates are the audit page templates (templates/audit_*.html).
func Templates() fs.FS { return templates }

// Permissions declares the module's permissions for the role editor.
func (l *Log) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermRead, Name: "查看审计日志", Group: "审计"},
		{Code: PermExport, Name: "导出审计日志", Group: "审计"},
	}
}

// Menu is the module's part of the left menu.
func (l *Log) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "审计", Title: "登录日志", Path: "/audit/logins", Permission: PermRead, Order: 1},
		{Group: "审计", Title: "操作日志", Path: "/audit/operations", Permission: PermRead, Order: 2},
		{Group: "审计", Title: "审计链校验", Path: "/audit/verify", Permission: PermRead, Order: 3},
	}
}

// Routes are the audit pages and API.
func (l *Log) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/audit/logins", Permission: PermRead, Summary: "登录日志", Handler: l.page(KindLogin)},
		{Method: "GET", Pattern: "/audit/operations", Permission: PermRead, Summary: "操作日志", Handler: l.page(KindOperation)},
		{Method: "GET", Pattern: "/api/v1/audit/logins", Permission: PermRead, Summary: "登录日志列表", Handler: l.list(KindLogin)},
		{Method: "GET", Pattern: "/api/v1/audit/operations", Permission: PermRead, Summary: "操作日志列表", Handler: l.list(KindOperation)},
		{Method: "GET", Pattern: "/api/v1/audit/logins/export", Permission: PermExport, Summary: "导出登录日志", Handler: l.export(KindLogin)},
		{Method: "GET", Pattern: "/api/v1/audit/operations/export", Permission: PermExport, Summary: "导出操作日志", Handler: l.export(KindOperation)},
		{Method: "GET", Pattern: "/api/v1/audit/verify", Permission: PermRead, Summary: "校验审计日志链", Handler: l.verify},
		{Method: "GET", Pattern: "/audit/verify", Permission: PermRead, Summary: "审计链校验", Handler: l.verifyPage},
	}
}

// kindInfo names a kind on pages and in exports.
var kindInfo = map[string]struct{ Title, Page, Path string }{
	KindLogin:     {"登录日志", "audit_logins.html", "/audit/logins"},
	KindOperation: {"操作日志", "audit_operations.html", "/audit/operations"},
}

func (l *Log) list(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, _, err := parseFilter(r, kind)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		p, err := web.Paging(r)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		total, err := l.Count(r.Context(), f)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		items, err := l.Find(r.Context(), f, p.Offset(), p.Size)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, web.List[Record]{Items: items, Total: total, Page: p.Page, Size: p.Size})
	}
}

// option is one choice of a select.
type option struct{ Value, Label string }

// listPage is the data of the two list pages.
type listPage struct {
	Kind      string
	Path      string
	Q         FilterForm
	Results   []option
	Items     []Record
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	ExportURL string
	CanExport bool
	Error     string
}

func (l *Log) page(kind string) http.HandlerFunc {
	info := kindInfo[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		if l.Pages == nil {
			web.Fail(w, r, fmt.Errorf("audit: Pages not set"))
			return
		}
		d := listPage{Kind: kind, Path: info.Path, Results: []option{
			{ResultSuccess, "成功"}, {ResultFailure, "失败"}, {ResultDenied, "拒绝"}, {ResultLocked, "锁定"},
		}}
		status := http.StatusOK
		f, ff, err := parseFilter(r, kind)
		d.Q = ff
		p, perr := web.Paging(r)
		if err == nil {
			err = perr
		}
		if err != nil {
			e, ok := err.(*web.Error)
			if !ok {
				web.Fail(w, r, err)
				return
			}
			status, d.Error = e.Status, e.Message
		} else {
			if d.Total, err = l.Count(r.Context(), f); err != nil {
				web.Fail(w, r, err)
				return
			}
			if d.Items, err = l.Find(r.Context(), f, p.Offset(), p.Size); err != nil {
				web.Fail(w, r, err)
				return
			}
			d.Page, d.Pages = p.Page, (d.Total+p.Size-1)/p.Size
			d.PrevURL, d.NextURL = web.PageLinks(r.URL, p, d.Total)
		}
		exp := r.URL.Query()
		exp.Del("page")
		exp.Del("size")
		d.ExportURL = "/api/v1" + info.Path + "/export"
		if len(exp) > 0 {
			d.ExportURL += "?" + exp.Encode()
		}
		d.CanExport = web.ViewerFrom(r.Context()).Can(PermExport)
		l.Pages.RenderStatus(w, r, status, info.Page, web.PageData{
			Title:  info.Title,
			Crumbs: []web.Crumb{{Title: "审计"}, {Title: info.Title}},
			Data:   d,
		})
	}
}

// export sends the matching records as XLSX and records the export itself.
func (l *Log) export(kind string) http.HandlerFunc {
	info := kindInfo[kind]
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		f, _, err := parseFilter(r, kind)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		recs, err := l.Find(ctx, f, 0, l.maxExport+1)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if len(recs) > l.maxExport {
			web.Fail(w, r, web.Errorf(http.StatusBadRequest, "export_too_large",
				"符合条件的记录超过 %d 条，请缩小日期范围或增加筛选条件后再导出", l.maxExport))
			return
		}
		now := time.Now().In(web.Shanghai())
		ri := web.Info(ctx)
		t := report.Table{
			Title: info.Title,
			Meta: []string{
				"导出人：" + ri.Actor,
				"导出时间：" + now.Format(report.TimeLayout),
				"筛选条件：" + f.Describe(),
				"记录数：" + strconv.Itoa(len(recs)),
			},
		}
		if kind == KindLogin {
			t.Columns = []string{"编号", "时间", "账号", "操作", "结果", "IP 地址", "终端", "详情", "请求编号"}
			for _, x := range recs {
				t.Rows = append(t.Rows, []any{x.ID, x.At, x.Actor, x.Action, x.ResultLabel(), x.IP, x.UserAgent, x.Detail, x.RequestID})
			}
		} else {
			t.Columns = []string{"编号", "时间", "操作人", "操作", "对象类型", "对象编号", "结果", "IP 地址", "详情", "行政区划", "请求编号"}
			for _, x := range recs {
				t.Rows = append(t.Rows, []any{x.ID, x.At, x.Actor, x.Action, x.ObjectType, x.ObjectID, x.ResultLabel(), x.IP, x.Detail, x.RegionCode, x.RequestID})
			}
		}
		// The export is recorded before any byte of it leaves.
		e := FromRequest(r, Entry{
			Kind: KindOperation, Action: "audit.export", ObjectType: "audit_log", ObjectID: kind,
			Result: ResultSuccess, Detail: fmt.Sprintf("导出%s %d 条（筛选条件：%s）", info.Title, len(recs), f.Describe()),
		})
		if err := l.Record(ctx, l.db, e); err != nil {
			web.Fail(w, r, err)
			return
		}
		report.ServeXLSX(w, info.Title+"-"+now.Format("20060102150405")+".xlsx", t)
	}
}

// verifyPage checks the chain now (the same check as zhsj audit verify) and shows the outcome.
func (l *Log) verifyPage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep, err := l.Verify(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	l.Pages.Render(w, r, "audit_verify.html", web.PageData{Title: "审计链校验", Crumbs: []web.Crumb{{Title: "审计"}, {Title: "审计链校验"}},
		Data: map[string]any{"Report": rep, "At": start, "Took": time.Since(start).Round(time.Millisecond)}})
}

func (l *Log) verify(w http.ResponseWriter, r *http.Request) {
	rep, err := l.Verify(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, rep)
}
