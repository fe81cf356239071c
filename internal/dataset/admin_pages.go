package dataset

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"zhsj/internal/web"
)

// Console pages that maintain code tables and connectors. The forms are API forms
// (<form data-api>, internal/web/static/app.js): they post JSON to the same API routes that
// other systems call, so validation, permission checks and audit records have a single
// implementation (PutCodeItem, SaveConnector) and the pages only render.

// ---- code tables ----

// apiAddCodeItem adds an item to a code table. Unlike PUT …/items/{code} it refuses a code
// that already exists, so that adding from the page never silently renames an item in use.
func (m *Module) apiAddCodeItem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"code"`
		codeItemBody
	}
	if err := web.Decode(r, &body); err != nil {
		web.Fail(w, r, err)
		return
	}
	code := strings.TrimSpace(body.Code)
	if err := body.put(m, r, code, true); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"code": code, "message": "已新增代码 " + code})
}

// codeRow is an item as listed on the page, with its code escaped for URLs.
type codeRow struct {
	CodeItem
	Path string
}

func codeRows(items []CodeItem) []codeRow {
	out := make([]codeRow, len(items))
	for i, it := range items {
		out[i] = codeRow{CodeItem: it, Path: url.PathEscape(it.Code)}
	}
	return out
}

func (m *Module) pageCodes(w http.ResponseWriter, r *http.Request) {
	ts, err := ListCodeTables(r.Context(), m.db)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	sel := r.URL.Query().Get("table")
	var cur *CodeTable
	for i := range ts {
		if ts[i].Name == sel || (sel == "" && i == 0) {
			cur = &ts[i]
		}
	}
	if cur == nil && sel != "" {
		failPage(m, w, r, web.Errorf(http.StatusNotFound, "not_found", "代码表“%s”不存在", sel))
		return
	}
	var items []CodeItem
	if cur != nil {
		if items, err = CodeItems(r.Context(), m.db, cur.Name); err != nil {
			web.Fail(w, r, err)
			return
		}
	}
	m.render(w, r, http.StatusOK, "dataset_codes.html", "代码表", []web.Crumb{{Title: "代码表"}},
		map[string]any{"Tables": ts, "Table": cur, "Items": codeRows(items), "CanEdit": caller(r).Can(PermCodeWrite),
			"Saved": r.URL.Query().Get("saved") != ""})
}

func (m *Module) pageCodeItem(w http.ResponseWriter, r *http.Request) {
	table, code := r.PathValue("name"), r.PathValue("code")
	ts, err := ListCodeTables(r.Context(), m.db)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var cur *CodeTable
	for i := range ts {
		if ts[i].Name == table {
			cur = &ts[i]
		}
	}
	var item *codeRow
	if cur != nil {
		items, err := CodeItems(r.Context(), m.db, table)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		for _, it := range codeRows(items) {
			if it.Code == code {
				item = &it
			}
		}
	}
	if item == nil {
		failPage(m, w, r, web.Errorf(http.StatusNotFound, "not_found", "代码表 %s 中没有代码 %s", table, code))
		return
	}
	title := "修改代码：" + item.Code
	m.render(w, r, http.StatusOK, "dataset_code_item.html", title,
		[]web.Crumb{{Title: "代码表", Path: "/datasets/codes"}, {Title: cur.TitleZh, Path: "/datasets/codes?table=" + url.QueryEscape(cur.Name)}, {Title: item.Code}},
		map[string]any{"Table": cur, "Item": item, "TableSeg": url.PathEscape(cur.Name)})
}

// ---- connectors ----

// connectorKinds are the kinds the connector form offers, with their Chinese labels.
var connectorKinds = []struct{ Code, Label string }{
	{ConnHTTPPull, "HTTP 接口拉取（分页 JSON）"},
	{ConnSQLPull, "数据库拉取（PostgreSQL / MySQL）"},
}

type connectorFormData struct {
	C        *Connector // nil on the new-connector page
	Datasets []*Dataset // the datasets the viewer may read
	Fields   *Dataset   // the dataset whose fields are listed (the chosen one)
	Kinds    []struct{ Code, Label string }
	Mapping  string
	Headers  string
	FormPath string
	Saved    bool
	CanEdit  bool
	CanRun   bool
}

// pageConnectorForm is the page of one connector (GET /ingest/connectors/{id}) or of a new
// one (GET /ingest/connectors/new). Its secret is never rendered: the page says whether one
// is set, and an empty secret field keeps it. ?dataset= chooses the dataset whose fields are
// listed (the form's dataset selector refreshes that list through htmx).
func (m *Module) pageConnectorForm(w http.ResponseWriter, r *http.Request) {
	p := caller(r)
	d := connectorFormData{Kinds: connectorKinds, CanEdit: p.Can(PermConnectorWrite), CanRun: p.Can(PermIngestRun),
		FormPath: "/ingest/connectors/new", Saved: r.URL.Query().Get("saved") != ""}
	for _, ds := range All() {
		if p.Can(ds.ReadPermission()) {
			d.Datasets = append(d.Datasets, ds)
		}
	}
	title := "新建数据源连接"
	if r.PathValue("id") != "" {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		c, err := m.GetConnector(r.Context(), m.db, id)
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		// As on the list: a connector's address and mapping describe its dataset.
		if err := canUseDataset(r, c.Dataset, "查看"); err != nil {
			failPage(m, w, r, err)
			return
		}
		c.Secret = nil  // never handed to the template
		var last *int64 // the newest run, failed ones included (as on the list)
		if err := m.db.Get(r.Context(), &last, `SELECT MAX(id) FROM ds_ingest_runs WHERE connector_id = ?`, c.ID); err != nil {
			web.Fail(w, r, err)
			return
		}
		c.LastRunID = last
		d.C, title, d.FormPath = c, c.Name, fmt.Sprintf("/ingest/connectors/%d", c.ID)
		d.Fields, _ = Get(c.Dataset)
		d.Mapping, d.Headers = indentedJSON(c.Config.Mapping), indentedJSON(c.Config.Headers)
	}
	if ds, ok := Get(r.URL.Query().Get("dataset")); ok && p.Can(ds.ReadPermission()) {
		d.Fields = ds
	}
	if d.Fields == nil && len(d.Datasets) > 0 {
		d.Fields = d.Datasets[0]
	}
	m.render(w, r, http.StatusOK, "dataset_connector_form.html", title,
		[]web.Crumb{{Title: "数据源连接", Path: "/ingest/connectors"}, {Title: title}}, d)
}

// indentedJSON shows a mapping or header map for editing; empty maps show as nothing.
func indentedJSON[M ~map[string]string](v M) string {
	if len(v) == 0 {
		return ""
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}
