package dataset_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset"
	"zhsj/internal/iam"
)

// The console's maintenance forms are API forms (<form data-api>): app.js turns their fields
// into JSON (formJSON) and sends it to the API. pageForm reads such a form from a rendered
// page and builds the same JSON, so the tests post exactly what the page would, and fail when
// the page offers a field the API does not accept (the API refuses unknown fields).

type formControl struct {
	name, typ, dataType, value string
	checked, disabled          bool
}

type pageForm struct {
	API, Method string
	controls    []formControl
}

var (
	formRe    = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	attrRe    = regexp.MustCompile(`([a-zA-Z_:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?`)
	controlRe = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	optionRe  = regexp.MustCompile(`<option\b([^>]*)>`)
)

func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(s, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2] + m[3])
	}
	return out
}

// findForm returns the form with the id in page, or fails the test.
func findForm(t *testing.T, page []byte, id string) *pageForm {
	t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(string(page), -1) {
		fa := attrs(m[1])
		if fa["id"] != id {
			continue
		}
		f := &pageForm{API: fa["data-api"], Method: fa["data-method"]}
		if f.Method == "" {
			f.Method = "POST"
		}
		body := m[2]
		for _, loc := range controlRe.FindAllStringSubmatchIndex(body, -1) {
			tag, a := body[loc[2]:loc[3]], attrs(body[loc[4]:loc[5]])
			_, disabled := a["disabled"]
			_, checked := a["checked"]
			c := formControl{name: a["name"], typ: a["type"], dataType: a["data-type"], value: a["value"], checked: checked, disabled: disabled}
			rest := body[loc[1]:]
			switch tag {
			case "textarea":
				c.value = html.UnescapeString(rest[:strings.Index(rest, "</textarea>")])
			case "select":
				opts := optionRe.FindAllStringSubmatch(rest[:strings.Index(rest, "</select>")], -1)
				for i, o := range opts {
					oa := attrs(o[1])
					if _, sel := oa["selected"]; sel || i == 0 {
						c.value = oa["value"]
					}
				}
			}
			f.controls = append(f.controls, c)
		}
		if f.API == "" {
			t.Fatalf("form %s has no data-api", id)
		}
		return f
	}
	t.Fatalf("no form %q in page:\n%.2000s", id, page)
	return nil
}

// body is the JSON app.js sends, after setting the named fields (strings; bools for
// checkboxes) as a user would.
func (f *pageForm) body(t *testing.T, set map[string]any) map[string]any {
	t.Helper()
	root := map[string]any{}
	used := map[string]bool{}
	for _, c := range f.controls {
		if c.name == "" || c.disabled || c.name == "_csrf" {
			continue
		}
		if v, ok := set[c.name]; ok {
			used[c.name] = true
			if b, isBool := v.(bool); isBool {
				c.checked = b
			} else {
				c.value = v.(string)
			}
		}
		out, parts := root, strings.Split(c.name, ".")
		for _, p := range parts[:len(parts)-1] {
			if out[p] == nil {
				out[p] = map[string]any{}
			}
			out = out[p].(map[string]any)
		}
		name := parts[len(parts)-1]
		switch {
		case c.typ == "checkbox":
			out[name] = c.checked
		case c.dataType == "int":
			n, _ := strconv.Atoi(c.value)
			out[name] = n
		case c.dataType == "json":
			var v any
			if strings.TrimSpace(c.value) == "" {
				out[name] = nil
			} else if err := json.Unmarshal([]byte(c.value), &v); err != nil {
				out[name] = c.value
			} else {
				out[name] = v
			}
		default:
			out[name] = c.value
		}
	}
	for k := range set {
		if !used[k] {
			t.Fatalf("form %s has no field %q", f.API, k)
		}
	}
	return root
}

// submit posts the form as app.js does.
func (f *pageForm) submit(t *testing.T, c *apptest.Client, set map[string]any) *apptest.Response {
	t.Helper()
	return c.Do(f.Method, f.API, f.body(t, set))
}

func errMessage(r *apptest.Response) string {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Message
}

func get(t *testing.T, c *apptest.Client, path string, want int) []byte {
	t.Helper()
	res := c.Do("GET", path, nil)
	if res.Status != want {
		t.Fatalf("GET %s: %d, want %d: %.500s", path, res.Status, want, res.Body)
	}
	return res.Body
}

func auditCount(t *testing.T, e *apptest.Env, action, actor, object string) int {
	t.Helper()
	var n int
	if err := e.App.DB.Get(context.Background(), &n, `SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor = ? AND object_id = ? AND result = 'success'`,
		action, actor, object); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCodeTablePages adds, renames, disables and re-enables code items through the code
// table page's forms; a user without “维护代码表” gets no forms and is refused.
func TestCodeTablePages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("analyst1", "610000", "analyst")
		e.User("yt_inspector", "610113", "inspector")
		an, yt := e.Login("analyst1"), e.Login("yt_inspector")
		item := func(table, code string) (it dataset.CodeItem, ok bool) {
			err := e.App.DB.Get(ctx, &it, `SELECT table_name, code, name, parent_code, sort, enabled, origin FROM ds_code_items WHERE table_name = ? AND code = ?`, table, code)
			return it, err == nil
		}

		page := get(t, an, "/datasets/codes?table=sampling_product", 200)
		add := findForm(t, page, "code-add-form")
		if add.API != "/api/v1/code-tables/sampling_product/items" || add.Method != "POST" {
			t.Fatalf("add form posts to %s %s", add.Method, add.API)
		}
		// Validation errors come back in Chinese for the form's result box; nothing is stored.
		if r := add.submit(t, an, map[string]any{"code": "P901", "name": "  "}); r.Status != 400 || !strings.Contains(errMessage(r), "名称") {
			t.Fatalf("empty name: %d %s", r.Status, r.Body)
		}
		if _, ok := item("sampling_product", "P901"); ok {
			t.Fatal("invalid item stored")
		}
		if r := add.submit(t, an, map[string]any{"code": "P901", "name": "电动滑板车", "parent_code": "05"}); r.Status != 201 {
			t.Fatalf("add: %d %s", r.Status, r.Body)
		}
		if it, ok := item("sampling_product", "P901"); !ok || it.Name != "电动滑板车" || it.Parent != "05" || !it.Enabled || it.Origin != "user" {
			t.Fatalf("stored item %+v %v", it, ok)
		}
		if n := auditCount(t, e, "dataset.code.write", "analyst1", "sampling_product/P901"); n != 1 {
			t.Fatalf("audit records after add: %d", n)
		}
		// Adding an existing code is refused rather than renaming an item in use.
		seeded := get(t, an, "/datasets/codes?table=ent_type", 200)
		var first dataset.CodeItem
		e.App.DB.Get(ctx, &first, `SELECT table_name, code, name, parent_code, sort, enabled, origin FROM ds_code_items WHERE table_name = 'ent_type' ORDER BY sort LIMIT 1`)
		r := findForm(t, seeded, "code-add-form").submit(t, an, map[string]any{"code": first.Code, "name": "改名"})
		if r.Status != 409 || !strings.Contains(errMessage(r), "已存在") {
			t.Fatalf("duplicate add: %d %s", r.Status, r.Body)
		}
		if it, _ := item("ent_type", first.Code); it.Name != first.Name {
			t.Fatalf("duplicate add renamed the item: %q", it.Name)
		}
		// Simultaneous adds of one new code: exactly one is stored, the others are refused.
		bodies := make([]map[string]any, 24)
		for i := range bodies {
			bodies[i] = add.body(t, map[string]any{"code": "P950", "name": fmt.Sprintf("并发新增%d", i)})
		}
		statuses := make([]int, len(bodies))
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() { statuses[i] = an.Do(add.Method, add.API, b).Status })
		}
		wg.Wait()
		if created := slices.Index(statuses, 201); created < 0 || slices.Index(statuses[created+1:], 201) >= 0 ||
			len(slices.DeleteFunc(slices.Clone(statuses), func(s int) bool { return s == 201 || s == 409 })) > 0 {
			t.Fatalf("simultaneous adds answered %v, want one 201 and 409s", statuses)
		} else if it, _ := item("sampling_product", "P950"); it.Name != fmt.Sprintf("并发新增%d", created) {
			t.Fatalf("stored %q, but request %d was the one accepted", it.Name, created)
		}
		if n := auditCount(t, e, "dataset.code.write", "analyst1", "sampling_product/P950"); n != 1 {
			t.Fatalf("audit records after simultaneous adds: %d", n)
		}

		// The list links each item to its edit page; rename and disable it there.
		page = get(t, an, "/datasets/codes?table=sampling_product", 200)
		if !bytes.Contains(page, []byte(`href="/datasets/codes/sampling_product/items/P901"`)) {
			t.Fatal("no edit link for P901")
		}
		edit := findForm(t, get(t, an, "/datasets/codes/sampling_product/items/P901", 200), "code-item-form")
		if edit.Method != "PUT" || edit.API != "/api/v1/code-tables/sampling_product/items/P901" {
			t.Fatalf("edit form %s %s", edit.Method, edit.API)
		}
		if r := edit.submit(t, an, map[string]any{"name": "电动滑板车（含独轮车）", "enabled": false}); r.Status != 200 {
			t.Fatalf("edit: %d %s", r.Status, r.Body)
		}
		if it, _ := item("sampling_product", "P901"); it.Name != "电动滑板车（含独轮车）" || it.Enabled || it.Parent != "05" {
			t.Fatalf("after edit %+v", it)
		}
		var detail string
		e.App.DB.Get(ctx, &detail, `SELECT detail FROM audit_log WHERE action = 'dataset.code.write' AND object_id = 'sampling_product/P901' ORDER BY id DESC LIMIT 1`)
		if !strings.Contains(detail, "停用") {
			t.Fatalf("audit detail %q", detail)
		}
		// A disabled item is listed as such with an 启用 button that re-enables it.
		page = get(t, an, "/datasets/codes?table=sampling_product&saved=1", 200)
		if !bytes.Contains(page, []byte("codes-saved")) {
			t.Fatal("no saved notice")
		}
		row := regexp.MustCompile(`(?s)<tr data-code="P901">.*?</tr>`).Find(page)
		if !bytes.Contains(row, []byte("停用")) || !bytes.Contains(row, []byte(">启用</button>")) {
			t.Fatalf("disabled row: %s", row)
		}
		toggle := findForm(t, []byte(strings.Replace(string(row), `<form class="code-toggle"`, `<form id="toggle" class="code-toggle"`, 1)), "toggle")
		if r := toggle.submit(t, an, nil); r.Status != 200 {
			t.Fatalf("enable: %d %s", r.Status, r.Body)
		}
		if it, _ := item("sampling_product", "P901"); !it.Enabled || it.Name != "电动滑板车（含独轮车）" {
			t.Fatalf("after enable %+v", it)
		}
		if n := auditCount(t, e, "dataset.code.write", "analyst1", "sampling_product/P901"); n != 3 {
			t.Fatalf("audit records: %d", n)
		}
		// Codes with characters that are special in a URL still have working edit pages.
		if r := add.submit(t, an, map[string]any{"code": "A/1 #2", "name": "特殊代码"}); r.Status != 201 {
			t.Fatalf("add special: %d %s", r.Status, r.Body)
		}
		sp := findForm(t, get(t, an, "/datasets/codes/sampling_product/items/A%2F1%20%232", 200), "code-item-form")
		if r := sp.submit(t, an, map[string]any{"enabled": false}); r.Status != 200 {
			t.Fatalf("edit special: %d %s", r.Status, r.Body)
		}
		if it, _ := item("sampling_product", "A/1 #2"); it.Enabled || it.Name != "特殊代码" {
			t.Fatalf("special %+v", it)
		}
		get(t, an, "/datasets/codes/sampling_product/items/NOPE", 404)
		get(t, an, "/datasets/codes?table=nope", 404)

		// Without “维护代码表”: the page lists the items but offers no form, and the routes refuse.
		page = get(t, yt, "/datasets/codes?table=sampling_product", 200)
		if !bytes.Contains(page, []byte("P901")) || bytes.Contains(page, []byte("code-add-form")) || bytes.Contains(page, []byte("/items/P901")) {
			t.Fatal("inspector sees edit forms on the code page")
		}
		get(t, yt, "/datasets/codes/sampling_product/items/P901", 403)
		if r := add.submit(t, yt, map[string]any{"code": "P902", "name": "越权新增"}); r.Status != 403 {
			t.Fatalf("inspector add: %d", r.Status)
		}
		if r := edit.submit(t, yt, map[string]any{"name": "越权修改"}); r.Status != 403 {
			t.Fatalf("inspector edit: %d", r.Status)
		}
		if _, ok := item("sampling_product", "P902"); ok {
			t.Fatal("refused add stored")
		}
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.code.write' AND actor = 'yt_inspector'`)
		if n != 0 {
			t.Fatalf("refused writes audited as changes: %d", n)
		}
	})
}

// TestConnectorPages creates and edits connectors through the connector form: the stored row
// and its audit record, the secret kept when left empty and never rendered, validation in
// Chinese, and refusal for users without “维护数据源连接与调度” or without the dataset.
func TestConnectorPages(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("analyst1", "610000", "analyst")
		e.User("yt_inspector", "610113", "inspector")
		if _, err := e.App.IAM.CreateRole(ctx, nil, iam.System(), iam.RoleInput{Code: "licence_keeper", Name: "许可证连接维护员", DataScope: "all",
			Permissions: []string{dataset.PermCatalogRead, dataset.PermConnectorWrite, "dataset.licence.read"}}); err != nil {
			t.Fatal(err)
		}
		e.User("keeper", "610000", "licence_keeper")
		an, yt, kp := e.Login("analyst1"), e.Login("yt_inspector"), e.Login("keeper")
		const token, dsn = "tok-SECRET-8842-zz", "postgres://loader:Pa55-dsn-word@10.0.0.8:5432/lic"

		list := get(t, an, "/ingest/connectors", 200)
		if !bytes.Contains(list, []byte(`href="/ingest/connectors/new"`)) {
			t.Fatal("no 新建连接 on the list")
		}
		newPage := get(t, an, "/ingest/connectors/new", 200)
		if !bytes.Contains(newPage, []byte(`id="dataset-field-table"`)) || !bytes.Contains(newPage, []byte("<code>uscc</code>")) {
			t.Fatal("new page lists no fields of the first dataset")
		}
		// The dataset selector refreshes the field list (htmx GET with ?dataset=).
		if b := get(t, an, "/ingest/connectors/new?dataset=licence", 200); !bytes.Contains(b, []byte("<code>holder_uscc</code>")) || bytes.Contains(b, []byte("<code>uscc</code>")) {
			t.Fatal("field list does not follow the chosen dataset")
		}
		form := findForm(t, newPage, "connector-form")
		if form.API != "/api/v1/connectors" || form.Method != "POST" {
			t.Fatalf("new form posts to %s %s", form.Method, form.API)
		}

		// Validation errors are the API's Chinese messages; nothing is stored.
		for _, bad := range []struct {
			set  map[string]any
			want string
		}{
			{map[string]any{"name": "坏地址", "dataset": "enterprise", "config.url": "ftp://x"}, "http:// 或 https://"},
			{map[string]any{"name": "无游标", "kind": "sql_pull", "dataset": "licence", "config.driver": "postgres", "config.table": "lic"}, "增量游标列"},
			{map[string]any{"name": "坏调度", "dataset": "enterprise", "config.url": "https://a.example/x", "schedule": "every day"}, "调度表达式无效"},
			{map[string]any{"name": "签名", "dataset": "enterprise", "config.url": "https://a.example/x", "config.auth": "signed"}, "app_id"},
		} {
			r := form.submit(t, an, bad.set)
			if r.Status != 400 || !strings.Contains(errMessage(r), bad.want) {
				t.Errorf("%v: %d %s", bad.set, r.Status, r.Body)
			}
		}
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM ds_connectors`)
		if n != 0 {
			t.Fatalf("invalid connectors stored: %d", n)
		}

		// Create an HTTP pull connector.
		r := form.submit(t, an, map[string]any{"name": "登记系统市场主体", "kind": "http_pull", "dataset": "enterprise", "schedule": "0 */30 * * * *",
			"config.url": "https://djxt.example.gov.cn/api/ent", "config.auth": "bearer", "config.records_path": "data.items",
			"config.cursor_param": "updated_after", "config.cursor_field": "updated_at", "config.page_size": "200",
			"config.mapping": `{"entName": "name", "regOrg": "-"}`, "secret": token})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		var created struct{ ID int64 }
		r.JSON(&created)
		type row struct {
			Name, Dataset, Kind, Config, Schedule string
			Secret                                []byte `db:"secret_enc"`
			Enabled                               bool
		}
		load := func(id int64) row {
			var x row
			if err := e.App.DB.Get(ctx, &x, `SELECT name, dataset, kind, config, schedule, secret_enc, enabled FROM ds_connectors WHERE id = ?`, id); err != nil {
				t.Fatal(err)
			}
			return x
		}
		cfg := func(x row) dataset.ConnectorConfig {
			var c dataset.ConnectorConfig
			json.Unmarshal([]byte(x.Config), &c)
			return c
		}
		st := load(created.ID)
		c := cfg(st)
		if st.Name != "登记系统市场主体" || st.Dataset != "enterprise" || st.Kind != "http_pull" || st.Schedule != "0 */30 * * * *" || !st.Enabled ||
			c.URL != "https://djxt.example.gov.cn/api/ent" || c.Auth != "bearer" || c.RecordsPath != "data.items" || c.PageSize != 200 ||
			c.CursorField != "updated_at" || c.Mapping["entName"] != "name" || c.Mapping["regOrg"] != "-" || c.Driver != "" {
			t.Fatalf("stored %+v %+v", st, c)
		}
		if len(st.Secret) == 0 || bytes.Contains(st.Secret, []byte(token)) || strings.Contains(st.Config, token) {
			t.Fatal("secret not sealed")
		}
		id := strconv.FormatInt(created.ID, 10)
		if n := auditCount(t, e, "dataset.connector.save", "analyst1", id); n != 1 {
			t.Fatalf("audit records after create: %d", n)
		}

		// The connector's page shows its configuration and that a secret is set, never the secret.
		path := "/ingest/connectors/" + id
		b := get(t, an, path+"?saved=1", 200)
		if bytes.Contains(b, []byte(token)) || !bytes.Contains(b, []byte("已设置")) || !bytes.Contains(b, []byte("https://djxt.example.gov.cn/api/ent")) ||
			!bytes.Contains(b, []byte("entName")) || !bytes.Contains(b, []byte(`id="connector-saved"`)) || !bytes.Contains(b, []byte(`id="connector-run"`)) {
			t.Fatalf("connector page:\n%s", b)
		}
		if !bytes.Contains(get(t, an, "/ingest/connectors", 200), []byte(`href="`+path+`"`)) {
			t.Fatal("list does not link to the connector page")
		}
		// Edit: disable it and make it manual, leaving the secret empty — the stored one stays.
		edit := findForm(t, b, "connector-form")
		if edit.Method != "PUT" || edit.API != "/api/v1/connectors/"+id {
			t.Fatalf("edit form %s %s", edit.Method, edit.API)
		}
		if r := edit.submit(t, an, map[string]any{"enabled": false, "schedule": ""}); r.Status != 200 {
			t.Fatalf("edit: %d %s", r.Status, r.Body)
		}
		after := load(created.ID)
		if after.Enabled || after.Schedule != "" || !bytes.Equal(after.Secret, st.Secret) || cfg(after).URL != c.URL ||
			cfg(after).Mapping["entName"] != "name" || cfg(after).PageSize != 200 || cfg(after).CursorParam != "updated_after" {
			t.Fatalf("after edit %+v %+v (secret kept: %v)", after, cfg(after), bytes.Equal(after.Secret, st.Secret))
		}
		if n := auditCount(t, e, "dataset.connector.save", "analyst1", id); n != 2 {
			t.Fatalf("audit records after edit: %d", n)
		}
		if b := get(t, an, path, 200); !bytes.Contains(b, []byte(`<span class="tag">停用</span>`)) {
			t.Fatal("connector page does not show it disabled")
		}
		// Re-enable with a new token: the secret changes.
		if r := edit.submit(t, an, map[string]any{"enabled": true, "secret": "tok-NEW-1"}); r.Status != 200 {
			t.Fatalf("re-enable: %d %s", r.Status, r.Body)
		}
		if again := load(created.ID); !again.Enabled || bytes.Equal(again.Secret, st.Secret) {
			t.Fatal("new secret not stored")
		}

		// A database connector: its DSN (with the password) is the secret.
		r = form.submit(t, an, map[string]any{"name": "许可证库", "kind": "sql_pull", "dataset": "licence", "config.driver": "postgres",
			"config.table": "public.lic_info", "config.columns": "licence_no, holder_uscc, updated_at", "config.cursor_field": "updated_at", "secret": dsn})
		if r.Status != 201 {
			t.Fatalf("create sql: %d %s", r.Status, r.Body)
		}
		var sqlc struct{ ID int64 }
		r.JSON(&sqlc)
		sqlPath := fmt.Sprintf("/ingest/connectors/%d", sqlc.ID)
		for _, who := range []*apptest.Client{an, yt} {
			for _, p := range []string{sqlPath, "/ingest/connectors"} {
				if b := get(t, who, p, 200); bytes.Contains(b, []byte("Pa55-dsn-word")) || bytes.Contains(b, []byte("10.0.0.8")) || bytes.Contains(b, []byte(token)) {
					t.Fatalf("%s shows a secret", p)
				}
			}
		}
		if x := cfg(load(sqlc.ID)); x.Driver != "postgres" || x.Table != "public.lic_info" || x.URL != "" || x.Auth != "" {
			t.Fatalf("sql config %+v", x)
		}

		// Without “维护数据源连接与调度” (inspector): read-only page, no form submit, routes refuse.
		if b := get(t, yt, "/ingest/connectors", 200); bytes.Contains(b, []byte("/ingest/connectors/new")) {
			t.Fatal("inspector offered 新建连接")
		}
		get(t, yt, "/ingest/connectors/new", 403)
		if b := get(t, yt, path, 200); bytes.Contains(b, []byte(`id="connector-save"`)) || bytes.Contains(b, []byte(`id="connector-run"`)) {
			t.Fatal("inspector offered save or run")
		}
		if r := form.submit(t, yt, map[string]any{"name": "越权", "dataset": "enterprise", "config.url": "https://a.example/x"}); r.Status != 403 {
			t.Fatalf("inspector create: %d", r.Status)
		}
		if r := edit.submit(t, yt, map[string]any{"name": "越权修改"}); r.Status != 403 {
			t.Fatalf("inspector edit: %d", r.Status)
		}
		if load(created.ID).Name != "登记系统市场主体" {
			t.Fatal("refused edit stored")
		}
		// A connector of a dataset the user may not read is not shown, even to a keeper.
		get(t, kp, path, 403)
		if b := get(t, kp, "/ingest/connectors/new", 200); bytes.Contains(b, []byte(`value="enterprise"`)) || !bytes.Contains(b, []byte(`value="licence"`)) {
			t.Fatal("keeper's dataset choice is not limited to readable datasets")
		}
		if b := get(t, kp, sqlPath, 200); !bytes.Contains(b, []byte(`id="connector-save"`)) || bytes.Contains(b, []byte("Pa55-dsn-word")) {
			t.Fatal("keeper cannot edit the licence connector")
		}
		// Nor through the API: a keeper cannot point a connector at, or change one of, a dataset
		// it may not read.
		if r := kp.Do("POST", "/api/v1/connectors", map[string]any{"name": "越权主体连接", "dataset": "enterprise", "kind": "http_pull",
			"config": map[string]any{"url": "https://example.invalid/api"}}); r.Status != 403 {
			t.Fatalf("keeper creates an enterprise connector: %d %s", r.Status, r.Body)
		}
		if r := kp.Do("PUT", fmt.Sprintf("/api/v1/connectors/%d", created.ID), map[string]any{"name": "改成许可证", "dataset": "licence", "kind": "http_pull",
			"config": map[string]any{"url": "https://example.invalid/api"}}); r.Status != 403 || load(created.ID).Dataset != "enterprise" {
			t.Fatalf("keeper takes over the enterprise connector: %d %s", r.Status, r.Body)
		}
		var audits int
		e.App.DB.Get(ctx, &audits, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.connector.save' AND actor <> 'analyst1'`)
		if audits != 0 {
			t.Fatalf("refused saves audited: %d", audits)
		}
		get(t, an, "/ingest/connectors/999999", 404)
		if r := an.Do("GET", "/ingest/connectors/abc", nil); r.Status != http.StatusBadRequest {
			t.Fatalf("bad id: %d", r.Status)
		}
	})
}
