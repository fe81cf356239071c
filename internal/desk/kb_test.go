package desk_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/desk"
)

type articleList struct {
	Items []desk.Article `json:"items"`
	Total int            `json:"total"`
}

func titles(l articleList) []string {
	var out []string
	for _, a := range l.Items {
		out = append(out, a.Title)
	}
	return out
}

// TestChineseSearch: the bigram index finds the right articles for Chinese queries (a phrase
// worded a little differently, a system, an error code, a single character by substring), on
// both databases; drafts stay out of ordinary searches; registration suggestions rank the
// matching article first; a closed ticket becomes a draft article once.
func TestChineseSearch(t *testing.T) {
	apptest.Each(t, func(t *testing.T, ae *apptest.Env) {
		e := newEnv(t, ae)
		engID := e.User("eng", "610000", "engineer")
		eng := e.Login("eng")
		for _, a := range desk.DemoArticles {
			mustStatus(t, eng.Do("POST", "/api/v1/desk/kb/articles", a), 201, "article "+a.Title)
		}
		mustStatus(t, eng.Do("POST", "/api/v1/desk/kb/articles", map[string]any{"title": "数据库连接池配置草稿", "symptom": "连接池参数待整理",
			"solution": "待补充", "status": "draft"}), 201, "draft")
		mustError(t, eng.Do("POST", "/api/v1/desk/kb/articles", map[string]any{"title": "无内容"}), 400, "missing_content", "empty article")
		mustError(t, eng.Do("POST", "/api/v1/desk/kb/articles", map[string]any{"title": "未写解决方法", "symptom": "现象", "status": "published"}), 400, "missing_solution", "published without solution")

		search := func(q string, extra string) articleList {
			t.Helper()
			res := eng.Do("GET", "/api/v1/desk/kb/articles?q="+url.QueryEscape(q)+extra, nil)
			mustStatus(t, res, 200, "search "+q)
			return decode[articleList](t, res)
		}
		cases := []struct {
			q     string
			first string
			total int
		}{
			{"数据库连接池耗尽", "市场主体登记页面打开缓慢", 1},      // the cause, word for word
			{"登录提示票据无效", "统一认证登录提示“票据无效”", 1},    // a phrase worded differently
			{"证书过期上传失败", "智慧市监 APP 无法上传现场照片", 1}, // two thirds of the terms suffice
			{"nginx 502", "许可备案接口调用返回 502", 1},   // Latin words, case-insensitive
			{"表空间", "数据库表空间不足导致写入失败", 1},
			{"远程监控", "远程监控视频无法播放", 1}, // the system field
			{"慢", "市场主体登记页面打开缓慢", 1},  // a single character by substring
			{"航天发射", "", 0},
		}
		for _, c := range cases {
			got := search(c.q, "")
			if got.Total != c.total || (c.first != "" && (len(got.Items) == 0 || got.Items[0].Title != c.first)) {
				t.Errorf("search %q: %d %v, want %d starting with %q", c.q, got.Total, titles(got), c.total, c.first)
			}
		}
		// A broader query ranks by relevance: both database articles, the table-space one first
		// (its title matches).
		if got := search("数据库表空间", ""); got.Total < 1 || got.Items[0].Title != "数据库表空间不足导致写入失败" {
			t.Errorf("ranking: %v", titles(got))
		}
		// Drafts only when asked for.
		if got := search("连接池", ""); got.Total != 1 {
			t.Errorf("published 连接池: %v", titles(got))
		}
		if got := search("连接池", "&status=all"); got.Total != 2 {
			t.Errorf("all 连接池: %v", titles(got))
		}
		if got := search("", "&system="+url.QueryEscape("统一认证")); got.Total != 1 {
			t.Errorf("by system: %v", titles(got))
		}
		// Suggestions while registering a ticket.
		res := eng.Do("GET", "/api/v1/desk/kb/suggest?q="+url.QueryEscape("用户从门户进入业务系统时提示票据无效，要求重新登录")+"&system="+url.QueryEscape("统一认证"), nil)
		mustStatus(t, res, 200, "suggest")
		sug := decode[articleList](t, res)
		if len(sug.Items) == 0 || sug.Items[0].Title != "统一认证登录提示“票据无效”" {
			t.Fatalf("suggestions %v", titles(sug))
		}
		page := eng.Do("GET", "/desk/suggest?title="+url.QueryEscape("APP 上传照片提示网络错误"), nil)
		if page.Status != 200 || !strings.Contains(string(page.Body), "智慧市监 APP 无法上传现场照片") {
			t.Fatalf("suggest fragment %d %s", page.Status, page.Body)
		}
		// Editing reindexes.
		var id int64
		e.App.DB.Get(e.ctx, &id, `SELECT id FROM desk_articles WHERE title = '远程监控视频无法播放'`)
		mustStatus(t, eng.Do("PUT", fmt.Sprintf("/api/v1/desk/kb/articles/%d", id), map[string]any{"title": "远程监控视频黑屏", "symptom": "视频窗口黑屏",
			"solution": "放通流媒体端口", "systems": "远程监控", "status": "published"}), 200, "edit")
		if got := search("视频无法播放", ""); got.Total != 0 {
			t.Errorf("old words still indexed: %v", titles(got))
		}
		if got := search("视频黑屏", ""); got.Total != 1 {
			t.Errorf("new words not indexed: %v", titles(got))
		}

		// One click turns a closed ticket into a draft article, once.
		tk := create(t, eng, map[string]any{"title": "稽查办案系统保存案件报错"})
		mustError(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/article", tk.ID), nil), 409, "not_closed", "article from open ticket")
		through(t, eng, tk.ID, engID, 3, 2, desk.StateClosed)
		res = eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/article", tk.ID), nil)
		mustStatus(t, res, 201, "article from ticket")
		aid := int64(decode[map[string]any](t, res)["id"].(float64))
		mustStatus(t, eng.Do("POST", fmt.Sprintf("/api/v1/desk/tickets/%d/article", tk.ID), nil), 200, "again")
		art := decode[desk.Article](t, eng.Do("GET", fmt.Sprintf("/api/v1/desk/kb/articles/%d", aid), nil))
		if art.Status != "draft" || art.Cause != "数据库连接池耗尽" || art.Solution != "扩大连接池并优化慢查询" || len(art.Tickets) != 1 || art.Tickets[0] != tk.ID {
			t.Fatalf("draft from ticket %+v", art)
		}
		if got := search("稽查办案保存案件", "&status=draft"); got.Total != 1 {
			t.Fatalf("draft from ticket not indexed: %v", titles(got))
		}
		if n := e.count(`SELECT COUNT(*) FROM desk_articles WHERE source_ticket_id = ?`, tk.ID); n != 1 {
			t.Fatalf("%d drafts", n)
		}
		// Reading needs desk.kb.read: the inspector has none.
		e.User("yanta", "610113", "inspector")
		mustError(t, e.Login("yanta").Do("GET", "/api/v1/desk/kb/articles?q=x", nil), 403, "forbidden", "inspector searches")
	})
}
