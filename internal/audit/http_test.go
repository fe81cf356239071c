package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/report"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

// server runs the audit routes behind the real middleware stack; the wrap function only sets
// who is calling (authentication is wired elsewhere).
func server(t *testing.T, l *Log) *httptest.Server {
	t.Helper()
	pages, err := web.NewPages(l.Menu(), Templates())
	if err != nil {
		t.Fatal(err)
	}
	l.Pages = pages
	mux := http.NewServeMux()
	web.Mount(mux, l.Routes(), func(rt web.Route) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ri := web.Info(r.Context())
			ri.Actor, ri.ActorID, ri.Region = "auditor", 9, "610000"
			v := &web.Viewer{UserID: 9, Account: "auditor", Name: "审计员", PasswordDue: -1, Allowed: func(string) bool { return true }}
			rt.Handler(w, r.WithContext(web.WithViewer(r.Context(), v)))
		})
	})
	srv := httptest.NewServer(web.Stack(mux, web.StackOptions{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv
}

func shanghai(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, web.Shanghai())
	if err != nil {
		panic(err)
	}
	return t
}

// seedHTTP writes the records the HTTP tests filter; ids follow the order below.
func seedHTTP(t *testing.T, l *Log) {
	t.Helper()
	es := []Entry{
		{Kind: KindLogin, Actor: "alice", ActorID: 1, IP: "10.0.0.1", Action: "auth.login", Result: ResultSuccess, At: shanghai("2026-03-10 10:00")},                                                                                       // 1
		{Kind: KindLogin, Actor: "alice", ActorID: 1, IP: "10.0.0.2", Action: "auth.login", Result: ResultFailure, At: shanghai("2026-03-10 23:30")},                                                                                       // 2
		{Kind: KindLogin, Actor: "bob", ActorID: 2, IP: "10.0.0.1", Action: "auth.login", Result: ResultLocked, At: shanghai("2026-03-11 00:10")},                                                                                          // 3
		{Kind: KindLogin, Actor: "mallory", IP: "10.0.0.9", Action: "auth.login", Result: ResultFailure, At: shanghai("2026-03-09 12:00")},                                                                                                 // 4
		{Kind: KindOperation, Actor: "alice", ActorID: 1, IP: "10.0.0.1", Action: "iam.user.create", ObjectType: "user", ObjectID: "31", Result: ResultSuccess, Detail: "创建用户 张三", RegionCode: "610100", At: shanghai("2026-03-10 09:00")}, // 5
		{Kind: KindOperation, Actor: "alice", ActorID: 1, IP: "10.0.0.1", Action: "iam.userx.create", Result: ResultSuccess, At: shanghai("2026-03-10 09:05")},                                                                             // 6
		{Kind: KindOperation, Actor: "bob", ActorID: 2, IP: "10.0.0.3", Action: "iam.role.update", Result: ResultSuccess, At: shanghai("2026-03-10 09:10")},                                                                                // 7
		{Kind: KindOperation, Actor: "alice", ActorID: 1, IP: "10.0.0.1", Action: "iam.user.delete", ObjectType: "user", ObjectID: "31", Result: ResultDenied, Detail: "删除用户 张三", At: shanghai("2026-03-12 18:00")},                        // 8
	}
	for _, e := range es {
		if err := l.Record(context.Background(), nil, e); err != nil {
			t.Fatal(err)
		}
	}
}

func getJSON(t *testing.T, srv *httptest.Server, path string, wantStatus int, v any) {
	t.Helper()
	res, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s, want %d", path, res.StatusCode, body, wantStatus)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func ids(items []Record) string {
	var s []string
	for _, r := range items {
		s = append(s, fmt.Sprint(r.ID))
	}
	return strings.Join(s, ",")
}

func TestListAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(t, db)
		seedHTTP(t, l)
		srv := server(t, l)
		for _, tc := range []struct {
			path  string
			ids   string
			total int
		}{
			{"/api/v1/audit/logins", "4,3,2,1", 4},
			{"/api/v1/audit/operations", "8,7,6,5", 4},
			{"/api/v1/audit/logins?actor=alice", "2,1", 2},
			{"/api/v1/audit/logins?actor=ali", "", 0},
			// Days are Asia/Shanghai days: 23:30 on the 10th is in, 00:10 on the 11th is not.
			{"/api/v1/audit/logins?from=2026-03-10&to=2026-03-10", "2,1", 2},
			{"/api/v1/audit/logins?from=2026-03-10", "3,2,1", 3},
			{"/api/v1/audit/logins?to=2026-03-09", "4", 1},
			{"/api/v1/audit/logins?result=failure", "4,2", 2},
			{"/api/v1/audit/logins?ip=10.0.0.1", "3,1", 2},
			{"/api/v1/audit/operations?action=iam.user", "8,5", 2},
			{"/api/v1/audit/operations?action=iam.user.delete", "8", 1},
			{"/api/v1/audit/operations?action=iam", "8,7,6,5", 4},
			{"/api/v1/audit/operations?action=iam.%25", "", 0},
			{"/api/v1/audit/operations?actor=alice&result=success&ip=10.0.0.1&from=2026-03-10&to=2026-03-10", "6,5", 2},
			{"/api/v1/audit/operations?size=3", "8,7,6", 4},
			{"/api/v1/audit/operations?size=3&page=2", "5", 4},
			{"/api/v1/audit/operations?size=3&page=3", "", 4},
		} {
			var got web.List[Record]
			getJSON(t, srv, tc.path, 200, &got)
			if ids(got.Items) != tc.ids || got.Total != tc.total || got.Items == nil {
				t.Errorf("%s: ids %q total %d, want %q %d", tc.path, ids(got.Items), got.Total, tc.ids, tc.total)
			}
		}
		var got web.List[Record]
		getJSON(t, srv, "/api/v1/audit/operations?action=iam.user.create", 200, &got)
		r := got.Items[0]
		if r.Actor != "alice" || r.ActorID == nil || *r.ActorID != 1 || r.ObjectID != "31" || r.Detail != "创建用户 张三" ||
			r.RegionCode != "610100" || !r.At.Equal(shanghai("2026-03-10 09:00")) || r.Kind != KindOperation {
			t.Errorf("record = %+v", r)
		}
		for path, code := range map[string]string{
			"/api/v1/audit/logins?from=2026-13-01":               "bad_date",
			"/api/v1/audit/logins?from=2026-03-11&to=2026-03-10": "bad_date",
			"/api/v1/audit/logins?result=ok":                     "bad_result",
			"/api/v1/audit/logins?size=501":                      "bad_size",
			"/api/v1/audit/logins/export?to=x":                   "bad_date",
		} {
			var e struct{ Error web.Error }
			getJSON(t, srv, path, 400, &e)
			if e.Error.Code != code || e.Error.Message == "" {
				t.Errorf("%s: error %+v, want %s", path, e.Error, code)
			}
		}
	})
}

func getPage(t *testing.T, srv *httptest.Server, path string, wantStatus int) string {
	t.Helper()
	res, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d: %s", path, res.StatusCode, wantStatus, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: content type %q", path, ct)
	}
	return string(body)
}

func TestPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(t, db)
		seedHTTP(t, l)
		srv := server(t, l)

		body := getPage(t, srv, "/audit/logins?actor=alice", 200)
		for _, want := range []string{`data-id="1"`, `data-id="2"`, "2026-03-10 23:30:00", "2026-03-10 10:00:00", `value="alice"`,
			`href="/api/v1/audit/logins/export?actor=alice"`, "共 2 条", `class="tag bad">失败`, `class="tag ok">成功`, "登录日志"} {
			if !strings.Contains(body, want) {
				t.Errorf("logins page lacks %q", want)
			}
		}
		for _, bad := range []string{`data-id="3"`, `data-id="4"`, `data-id="5"`, "<script>"} {
			if strings.Contains(body, bad) {
				t.Errorf("logins page has %q", bad)
			}
		}

		body = getPage(t, srv, "/audit/operations?action=iam.user&size=1", 200)
		if !strings.Contains(body, `data-id="8"`) || strings.Contains(body, `data-id="5"`) || !strings.Contains(body, "第 1 / 2 页") ||
			!strings.Contains(body, "page=2") || !strings.Contains(body, "删除用户 张三") || !strings.Contains(body, "user #31") {
			t.Errorf("operations page 1 wrong:\n%s", body)
		}
		body = getPage(t, srv, "/audit/operations?action=iam.user&size=1&page=2", 200)
		if !strings.Contains(body, `data-id="5"`) || strings.Contains(body, `data-id="8"`) || !strings.Contains(body, "上一页") {
			t.Errorf("operations page 2 wrong:\n%s", body)
		}
		if body := getPage(t, srv, "/audit/operations?actor=nobody", 200); !strings.Contains(body, "没有符合条件的操作记录") {
			t.Errorf("empty state missing")
		}
		if body := getPage(t, srv, "/audit/operations?from=2026-02-30", 400); !strings.Contains(body, "开始日期须为 YYYY-MM-DD") {
			t.Errorf("error state missing")
		}
	})
}

func TestExport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLog(t, db)
		seedHTTP(t, l)
		srv := server(t, l)

		res, err := http.Get(srv.URL + "/api/v1/audit/operations/export?actor=alice&to=2026-03-10")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != report.ContentType {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("export = %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
		}
		_, enc, _ := strings.Cut(res.Header.Get("Content-Disposition"), "filename*=UTF-8''")
		if name, _ := url.PathUnescape(enc); !strings.HasPrefix(name, "操作日志-") || !strings.HasSuffix(name, ".xlsx") {
			t.Errorf("file name %q", name)
		}
		f, err := excelize.OpenReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("操作日志")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 5+1+2 {
			t.Fatalf("rows = %q", rows)
		}
		if rows[0][0] != "操作日志" || rows[1][0] != "导出人：auditor" || rows[3][0] != "筛选条件：日期至 2026-03-10；账号 alice" || rows[4][0] != "记录数：2" {
			t.Errorf("title and meta = %q", rows[:5])
		}
		wantHeader := "编号|时间|操作人|操作|对象类型|对象编号|结果|IP 地址|详情|行政区划|请求编号"
		if got := strings.Join(rows[5], "|"); got != wantHeader {
			t.Errorf("header = %s", got)
		}
		if got := strings.Join(rows[6], "|"); got != "6|2026-03-10 09:05:00|alice|iam.userx.create|||成功|10.0.0.1" {
			t.Errorf("row 1 = %s", got)
		}
		if got := strings.Join(rows[7], "|"); got != "5|2026-03-10 09:00:00|alice|iam.user.create|user|31|成功|10.0.0.1|创建用户 张三|610100" {
			t.Errorf("row 2 = %s", got)
		}

		// The export recorded itself, with who, from where and the request id.
		var list web.List[Record]
		getJSON(t, srv, "/api/v1/audit/operations?action=audit.export", 200, &list)
		if list.Total != 1 {
			t.Fatalf("export records = %+v", list)
		}
		e := list.Items[0]
		if e.Actor != "auditor" || e.ActorID == nil || *e.ActorID != 9 || e.IP != "127.0.0.1" || e.RequestID == "" ||
			e.ObjectID != KindOperation || e.Result != ResultSuccess || !strings.Contains(e.Detail, "2 条") || !strings.Contains(e.Detail, "账号 alice") {
			t.Errorf("export record = %+v", e)
		}

		// Logins export: header and rows.
		res2, err := http.Get(srv.URL + "/api/v1/audit/logins/export?result=locked")
		if err != nil {
			t.Fatal(err)
		}
		defer res2.Body.Close()
		f2, err := excelize.OpenReader(res2.Body)
		if err != nil {
			t.Fatal(err)
		}
		defer f2.Close()
		rows, _ = f2.GetRows("登录日志")
		if len(rows) != 7 || strings.Join(rows[6], "|") != "3|2026-03-11 00:10:00|bob|auth.login|锁定|10.0.0.1" {
			t.Errorf("logins export rows = %q", rows)
		}

		// Too many rows: refused, and not recorded as an export.
		l.maxExport = 1
		var fail struct{ Error web.Error }
		getJSON(t, srv, "/api/v1/audit/logins/export", 400, &fail)
		if fail.Error.Code != "export_too_large" {
			t.Errorf("too large = %+v", fail.Error)
		}
		getJSON(t, srv, "/api/v1/audit/operations?action=audit.export", 200, &list)
		if list.Total != 2 {
			t.Errorf("export records after refusal = %d, want 2", list.Total)
		}

		var rep Report
		getJSON(t, srv, "/api/v1/audit/verify", 200, &rep)
		if !rep.OK || rep.Checked != 10 {
			t.Errorf("verify = %+v", rep)
		}
		if page := getPage(t, srv, "/audit/verify", 200); !strings.Contains(page, "审计链完整：已逐条校验 10 条记录") {
			t.Errorf("verify page on an intact chain: %.500s", page)
		}
		exec(t, db, "UPDATE audit_log SET actor = 'eve' WHERE id = 9")
		getJSON(t, srv, "/api/v1/audit/verify", 200, &rep)
		if rep.OK || rep.FirstBadID != 9 {
			t.Errorf("verify after tampering = %+v", rep)
		}
		if page := getPage(t, srv, "/audit/verify", 200); !strings.Contains(page, "第一条有问题的记录编号为 9") {
			t.Errorf("verify page after tampering: %.500s", page)
		}
	})
}

func TestRouteTable(t *testing.T) {
	l := New(nil, nil)
	perms := map[string]string{}
	for _, r := range l.Routes() {
		perms[r.Method+" "+r.Pattern] = r.Permission
		if r.Handler == nil || r.Summary == "" {
			t.Errorf("%s incomplete", r.Pattern)
		}
	}
	want := map[string]string{
		"GET /audit/logins":                   PermRead,
		"GET /audit/operations":               PermRead,
		"GET /api/v1/audit/logins":            PermRead,
		"GET /api/v1/audit/operations":        PermRead,
		"GET /api/v1/audit/logins/export":     PermExport,
		"GET /api/v1/audit/operations/export": PermExport,
		"GET /api/v1/audit/verify":            PermRead,
		"GET /audit/verify":                   PermRead,
	}
	if fmt.Sprint(perms) != fmt.Sprint(want) {
		t.Errorf("routes = %v", perms)
	}
	if PermRead != "audit.log.read" || PermExport != "audit.log.export" {
		t.Error("permission codes changed")
	}
	if p := l.Permissions(); len(p) != 2 || p[0].Name != "查看审计日志" || p[1].Name != "导出审计日志" || p[0].Group != "审计" {
		t.Errorf("permissions = %+v", p)
	}
	m := l.Menu()
	if len(m) != 3 || m[0].Path != "/audit/logins" || m[1].Path != "/audit/operations" || m[2].Path != "/audit/verify" || m[0].Group != "审计" || m[1].Permission != PermRead {
		t.Errorf("menu = %+v", m)
	}
}
