package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Routes are the module's API and pages. Per-dataset routes use the dataset's literal name,
// so each read route carries that dataset's own permission (dataset.<name>.read).
func (m *Module) Routes() []web.Route {
	rs := []web.Route{
		{Method: "GET", Pattern: "/api/v1/datasets", Permission: PermCatalogRead, Summary: "数据集目录（范围内记录数、更新时间、待处理隔离记录）", Handler: m.apiList},
		{Method: "GET", Pattern: "/api/v1/ingest/runs", Permission: PermCatalogRead, Summary: "导入运行记录（推送任务）", Handler: m.apiRuns},
		{Method: "GET", Pattern: "/api/v1/ingest/runs/{id}", Permission: PermCatalogRead, Summary: "导入运行详情与进度", Handler: m.apiRun},
		{Method: "POST", Pattern: "/api/v1/ingest/runs/{id}/rerun", Permission: PermIngestRun, Summary: "按原上传文件重新运行导入", Handler: m.apiRerun},
		{Method: "GET", Pattern: "/api/v1/code-tables", Permission: PermCatalogRead, Summary: "代码表列表", Handler: m.apiCodeTables},
		{Method: "GET", Pattern: "/api/v1/code-tables/{name}", Permission: PermCatalogRead, Summary: "代码表条目", Handler: m.apiCodeItems},
		{Method: "PUT", Pattern: "/api/v1/code-tables/{name}/items/{code}", Permission: PermCodeWrite, Summary: "新增或修改代码表条目", Handler: m.apiPutCodeItem},
		{Method: "POST", Pattern: "/api/v1/code-tables/{name}/items", Permission: PermCodeWrite, Summary: "新增代码表条目（代码已存在时拒绝）", Handler: m.apiAddCodeItem},
		{Method: "GET", Pattern: "/api/v1/connectors", Permission: PermCatalogRead, Summary: "数据源连接列表（HTTP 拉取、数据库拉取）", Handler: m.apiConnectors},
		{Method: "POST", Pattern: "/api/v1/connectors", Permission: PermConnectorWrite, Summary: "新建数据源连接", Handler: m.apiSaveConnector},
		{Method: "PUT", Pattern: "/api/v1/connectors/{id}", Permission: PermConnectorWrite, Summary: "修改数据源连接", Handler: m.apiSaveConnector},
		{Method: "POST", Pattern: "/api/v1/connectors/{id}/run", Permission: PermIngestRun, Summary: "立即运行数据源连接", Handler: m.apiRunConnector},
		{Method: "GET", Pattern: "/ingest/connectors", Permission: PermCatalogRead, Summary: "数据源连接页", Handler: m.pageConnectors},
		{Method: "GET", Pattern: "/ingest/connectors/new", Permission: PermConnectorWrite, Summary: "新建数据源连接页", Handler: m.pageConnectorForm},
		{Method: "GET", Pattern: "/ingest/connectors/{id}", Permission: PermCatalogRead, Summary: "数据源连接配置页（修改、启用停用、立即运行）", Handler: m.pageConnectorForm},
		{Method: "GET", Pattern: "/datasets", Permission: PermCatalogRead, Summary: "数据集目录页", Handler: m.pageList},
		{Method: "GET", Pattern: "/datasets/codes", Permission: PermCatalogRead, Summary: "代码表页", Handler: m.pageCodes},
		{Method: "GET", Pattern: "/datasets/codes/{name}/items/{code}", Permission: PermCodeWrite, Summary: "代码表条目修改页（名称、启用停用）", Handler: m.pageCodeItem},
		{Method: "GET", Pattern: "/ingest/runs", Permission: PermCatalogRead, Summary: "导入记录页", Handler: m.pageRuns},
		{Method: "GET", Pattern: "/ingest/runs/{id}", Permission: PermCatalogRead, Summary: "导入运行详情页", Handler: m.pageRun},
		{Method: "GET", Pattern: "/ingest/runs/{id}/progress", Permission: PermCatalogRead, Summary: "导入进度（页面局部刷新）", Handler: m.pageRunProgress},
	}
	for _, d := range All() {
		rs = append(rs, m.datasetRoutes(d)...)
	}
	return rs
}

func (m *Module) datasetRoutes(d *Dataset) []web.Route {
	api, page, t, read := "/api/v1/datasets/"+d.Name, "/datasets/"+d.Name, d.TitleZh, d.ReadPermission()
	return []web.Route{
		{Method: "GET", Pattern: api, Permission: read, Summary: "数据集说明、字段与统计：" + t, Handler: m.apiDataset(d)},
		{Method: "GET", Pattern: api + "/records", Permission: read, Summary: "记录列表（筛选、分页）：" + t, Handler: m.apiRecords(d)},
		{Method: "GET", Pattern: api + "/records/{id}", Permission: read, Summary: "记录详情（个人信息脱敏）：" + t, Handler: m.apiRecord(d)},
		{Method: "POST", Pattern: api + "/records/{id}/unmask", Permission: PermRecordUnmask, Summary: "查看记录的未脱敏个人信息（记入审计）：" + t, Handler: m.apiUnmask(d)},
		{Method: "POST", Pattern: api + "/push", Permission: PermPush, Summary: "实时推送一批记录（API 令牌，Idempotency-Key）：" + t, Handler: m.apiPush(d)},
		{Method: "POST", Pattern: api + "/ingest", Permission: PermIngestRun, Summary: "上传文件导入（multipart，字段 file）：" + t, Handler: m.apiIngest(d)},
		{Method: "GET", Pattern: api + "/quarantine", Permission: PermQuarantineRead, Summary: "隔离区记录：" + t, Handler: m.apiQuarantine(d)},
		{Method: "PATCH", Pattern: api + "/quarantine/{id}", Permission: PermQuarantineEdit, Summary: "更正隔离记录并重新校验：" + t, Handler: m.apiCorrect(d)},
		{Method: "POST", Pattern: api + "/quarantine/replay", Permission: PermQuarantineEdit, Summary: "重放隔离记录：" + t, Handler: m.apiReplay(d)},
		{Method: "POST", Pattern: api + "/quarantine/discard", Permission: PermQuarantineEdit, Summary: "忽略隔离记录（须填写原因）：" + t, Handler: m.apiDiscard(d)},
		{Method: "GET", Pattern: page, Permission: read, Summary: "记录浏览页：" + t, Handler: m.pageRecords(d)},
		{Method: "GET", Pattern: page + "/records/key", Permission: read, Summary: "按主键打开记录：" + t, Handler: m.pageRecordByKey(d)},
		{Method: "GET", Pattern: page + "/records/{id}", Permission: read, Summary: "记录详情页：" + t, Handler: m.pageRecord(d, false)},
		{Method: "POST", Pattern: page + "/records/{id}/unmask", Permission: PermRecordUnmask, Summary: "记录详情页（显示未脱敏信息，记入审计）：" + t, Handler: m.pageRecord(d, true)},
		{Method: "GET", Pattern: page + "/upload", Permission: PermIngestRun, Summary: "文件上传页：" + t, Handler: m.pageUpload(d)},
		{Method: "POST", Pattern: page + "/upload", Permission: PermIngestRun, Summary: "上传文件并开始导入：" + t, Handler: m.pageUploadPost(d)},
		{Method: "GET", Pattern: page + "/quarantine", Permission: PermQuarantineRead, Summary: "隔离区页：" + t, Handler: m.pageQuarantine(d)},
		{Method: "GET", Pattern: page + "/quarantine/{id}", Permission: PermQuarantineRead, Summary: "隔离记录更正页：" + t, Handler: m.pageQuarantineRow(d)},
	}
}

func caller(r *http.Request) *iam.Principal { return iam.FromContext(r.Context()) }

// mustRead guards routes whose permission is generic (quarantine, upload): the caller must
// also read the dataset.
func mustRead(r *http.Request, d *Dataset) error {
	if !caller(r).Can(d.ReadPermission()) {
		return web.ErrForbidden
	}
	return nil
}

// ---- API ----

func (m *Module) apiList(w http.ResponseWriter, r *http.Request) {
	var out []*Stats
	for _, d := range All() {
		if !caller(r).Can(d.ReadPermission()) {
			continue
		}
		s, err := m.DatasetStats(r.Context(), caller(r), d)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		out = append(out, s)
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": out})
}

func (m *Module) apiDataset(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := m.DatasetStats(r.Context(), caller(r), d)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, map[string]any{"dataset": d, "stats": s})
	}
}

func (m *Module) apiRecords(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := ParseRecordFilter(d, r.URL.Query())
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		p, err := web.Paging(r)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		items, total, err := m.ListRecords(r.Context(), caller(r), d, f, p)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if items == nil {
			items = []*Record{}
		}
		web.JSON(w, http.StatusOK, web.List[*Record]{Items: items, Total: total, Page: p.Page, Size: p.Size})
	}
}

func (m *Module) apiRecord(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := web.PathInt64(r, "id")
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		rec, err := m.GetRecord(r.Context(), caller(r), d, id)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, rec)
	}
}

func (m *Module) apiUnmask(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := web.PathInt64(r, "id")
		if err == nil {
			err = mustRead(r, d)
		}
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		vals, err := m.Unmask(r.Context(), r, caller(r), d, id)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, map[string]any{"values": vals})
	}
}

// upload reads a multipart upload (file plus optional format, encoding, sheet, task and a
// JSON mapping), stores the file and starts its run in the background. It returns the run
// id and, when wait is set, the finished result.
func (m *Module) upload(w http.ResponseWriter, r *http.Request, d *Dataset, wait bool) (int64, *Result, error) {
	if err := mustRead(r, d); err != nil {
		return 0, nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, m.maxUpload+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return 0, nil, web.Errorf(http.StatusBadRequest, "bad_upload", "请以 multipart/form-data 上传文件（字段名 file）")
	}
	var content []byte
	var name string
	form := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, nil, uploadErr(err, m.maxUpload)
		}
		if part.FormName() == "file" {
			name = part.FileName()
			content, err = io.ReadAll(io.LimitReader(part, m.maxUpload+1))
			if err != nil {
				return 0, nil, uploadErr(err, m.maxUpload)
			}
			if int64(len(content)) > m.maxUpload {
				return 0, nil, uploadErr(&http.MaxBytesError{Limit: m.maxUpload}, m.maxUpload)
			}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(part, 64<<10))
		form[part.FormName()] = strings.TrimSpace(string(b))
	}
	if name == "" {
		return 0, nil, web.Errorf(http.StatusBadRequest, "no_file", "请选择要上传的文件")
	}
	mapping := Mapping{}
	if s := form["mapping"]; s != "" {
		if err := json.Unmarshal([]byte(s), &mapping); err != nil {
			return 0, nil, web.Errorf(http.StatusBadRequest, "bad_mapping", "列映射应为 JSON 对象 {\"源列名\": \"字段名\"}：%v", err)
		}
	}
	p := caller(r)
	sum := sha256.Sum256(content)
	var uploadID int64
	err = m.db.InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		uploadID, err = store.InsertID(r.Context(), tx, `INSERT INTO ds_uploads(dataset, name, size, sha256, content, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			d.Name, truncate(name, 200), len(content), hex.EncodeToString(sum[:]), content, actorName(p), m.now())
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	o := Options{Dataset: d.Name, Kind: KindUpload, SourceName: truncate(name, 200), Format: form["format"], Encoding: form["encoding"], Sheet: form["sheet"],
		TaskName: form["task"], Mapping: mapping, Principal: p, Request: r.WithContext(context.WithoutCancel(r.Context())), BytesTotal: int64(len(content)), UploadID: uploadID}
	return m.startUploadRun(r.Context(), d, o, content, wait)
}

func (m *Module) startUploadRun(ctx context.Context, d *Dataset, o Options, content []byte, wait bool) (int64, *Result, error) {
	o = defaults(d, o)
	if _, ok := encodings[strings.ToLower(o.Encoding)]; !ok {
		return 0, nil, web.Errorf(http.StatusBadRequest, "bad_encoding", "不支持的编码 %q（可选 auto、utf-8、gbk、gb18030、utf-16）", o.Encoding)
	}
	if o.Mapping != nil {
		if err := d.resolve(mapKeys(o.Mapping), o.Mapping, &colMap{}); err != nil {
			return 0, nil, web.Errorf(http.StatusBadRequest, "bad_mapping", "%s", err.Error())
		}
	}
	id, err := m.StartRun(ctx, o)
	if err != nil {
		return 0, nil, err
	}
	o.RunID = id
	if wait {
		res, _ := m.Ingest(context.WithoutCancel(ctx), bytes.NewReader(content), o)
		return id, res, nil
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.Ingest(context.Background(), bytes.NewReader(content), o)
	}()
	return id, nil, nil
}

func mapKeys(m Mapping) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func uploadErr(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return web.Errorf(http.StatusRequestEntityTooLarge, "file_too_large", "文件超过 %d MB 上限，请拆分后分批上传", limit>>20)
	}
	return web.Errorf(http.StatusBadRequest, "bad_upload", "上传中断或格式错误：%v", err)
}

func (m *Module) apiIngest(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wait := r.URL.Query().Get("wait") == "true" || r.URL.Query().Get("wait") == "1"
		id, res, err := m.upload(w, r, d, wait)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if res != nil {
			status := http.StatusOK
			if res.Status != StatusCommitted {
				status = http.StatusUnprocessableEntity
			}
			web.JSON(w, status, res)
			return
		}
		web.JSON(w, http.StatusAccepted, map[string]any{"run_id": id, "status": StatusRunning, "url": fmt.Sprintf("/ingest/runs/%d", id)})
	}
}

func (m *Module) apiRuns(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	q := r.URL.Query()
	items, total, err := m.ListRuns(r.Context(), caller(r), RunFilter{Dataset: q.Get("dataset"), Status: q.Get("status"), Schedule: q.Get("schedule")}, p)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if items == nil {
		items = []Run{}
	}
	web.JSON(w, http.StatusOK, web.List[Run]{Items: items, Total: total, Page: p.Page, Size: p.Size})
}

func (m *Module) apiRun(w http.ResponseWriter, r *http.Request) {
	web.ByID(w, r, func(id int64) (any, error) { return m.GetRun(r.Context(), caller(r), id) })
}

// Rerun starts a new run of an uploaded file (after an interruption, or once the code tables
// were completed).
func (m *Module) apiRerun(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	run, err := m.GetRun(r.Context(), caller(r), id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	var up struct {
		ID      int64  `db:"id"`
		Name    string `db:"name"`
		Content []byte `db:"content"`
	}
	if err := m.db.Get(r.Context(), &up, `SELECT u.id, u.name, u.content FROM ds_uploads u JOIN ds_ingest_runs r ON r.upload_id = u.id WHERE r.id = ?`, id); err != nil {
		if err == store.ErrNotFound {
			err = web.Errorf(http.StatusBadRequest, "no_upload", "该运行不是上传文件的导入，或文件已超过保留期被清理")
		}
		web.Fail(w, r, err)
		return
	}
	d, ok := Get(run.Dataset)
	if !ok || mustRead(r, d) != nil {
		web.Fail(w, r, web.ErrForbidden)
		return
	}
	newID, _, err := m.startUploadRun(r.Context(), d, Options{Dataset: d.Name, Kind: KindUpload, SourceName: up.Name, Principal: caller(r),
		Request: r.WithContext(context.WithoutCancel(r.Context())), BytesTotal: int64(len(up.Content)), UploadID: up.ID,
		TaskName: run.TaskName}, up.Content, false)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusAccepted, map[string]any{"run_id": newID, "id": newID, "status": StatusRunning, "url": fmt.Sprintf("/ingest/runs/%d", newID)})
}

func (m *Module) apiQuarantine(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := mustRead(r, d); err != nil {
			web.Fail(w, r, err)
			return
		}
		p, err := web.Paging(r)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		q := r.URL.Query()
		run, _ := strconv.ParseInt(q.Get("run"), 10, 64)
		items, total, err := m.ListQuarantine(r.Context(), caller(r), d, QuarantineFilter{Status: q.Get("status"), RunID: run, Field: q.Get("field"), Q: q.Get("q")}, p)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if items == nil {
			items = []QuarantineRow{}
		}
		web.JSON(w, http.StatusOK, web.List[QuarantineRow]{Items: items, Total: total, Page: p.Page, Size: p.Size})
	}
}

func (m *Module) apiCorrect(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := web.PathInt64(r, "id")
		if err == nil {
			err = mustRead(r, d)
		}
		// {"values": {field: value}}, or the fields themselves (page forms post them flat).
		var body map[string]json.RawMessage
		if err == nil {
			err = web.Decode(r, &body)
		}
		values := map[string]string{}
		if err == nil {
			if v, ok := body["values"]; ok {
				if e := json.Unmarshal(v, &values); e != nil {
					err = web.Errorf(http.StatusBadRequest, "bad_json", "values 应为 {字段名: 值}")
				}
			} else {
				for k, v := range body {
					var s string
					if e := json.Unmarshal(v, &s); e != nil {
						err = web.Errorf(http.StatusBadRequest, "bad_json", "字段 %s 的值应为文本", k)
						break
					}
					values[k] = s
				}
			}
		}
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		issues, err := m.Correct(r.Context(), r, caller(r), d, id, values)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		msg := "已保存，校验通过，可以重放入库"
		if len(issues) > 0 {
			msg = fmt.Sprintf("已保存，仍有 %d 个问题：%s", len(issues), issues[0].Title+" "+issues[0].Message)
		}
		web.JSON(w, http.StatusOK, map[string]any{"errors": issues, "ready": len(issues) == 0, "message": msg})
	}
}

func (m *Module) apiReplay(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			IDs []int64 `json:"ids"`
		}
		err := mustRead(r, d)
		if err == nil && r.ContentLength != 0 {
			err = web.Decode(r, &body)
		}
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		res, err := m.Replay(r.Context(), d, body.IDs, Options{Principal: caller(r), Request: r})
		if res == nil && err != nil {
			web.Fail(w, r, err)
			return
		}
		status := http.StatusOK
		if res.Status != StatusCommitted {
			status = http.StatusUnprocessableEntity
		}
		res.Notes = append(res.Notes, fmt.Sprintf("重放 %d 条：入库 %d 条，仍需处理 %d 条", res.Read, res.Upserted+res.Unchanged, res.Quarantined))
		web.JSON(w, status, map[string]any{"result": res, "message": res.Notes[len(res.Notes)-1], "run_id": res.RunID})
	}
}

func (m *Module) apiDiscard(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			IDs  []int64 `json:"ids"`
			Note string  `json:"note"`
		}
		err := mustRead(r, d)
		if err == nil {
			err = web.Decode(r, &body)
		}
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		n, err := m.Discard(r.Context(), r, caller(r), d, body.IDs, body.Note)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		web.JSON(w, http.StatusOK, map[string]any{"discarded": n, "message": fmt.Sprintf("已忽略 %d 条", n)})
	}
}

func (m *Module) apiCodeTables(w http.ResponseWriter, r *http.Request) {
	ts, err := ListCodeTables(r.Context(), m.db)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": ts})
}

func (m *Module) apiCodeItems(w http.ResponseWriter, r *http.Request) {
	items, err := CodeItems(r.Context(), m.db, r.PathValue("name"))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if len(items) == 0 {
		web.Fail(w, r, web.ErrNotFound)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"items": items})
}

func (m *Module) apiPutCodeItem(w http.ResponseWriter, r *http.Request) {
	var body codeItemBody // the code is the path's: a body naming one is refused as unknown
	if err := web.Decode(r, &body); err != nil {
		web.Fail(w, r, err)
		return
	}
	if err := body.put(m, r, r.PathValue("code"), false); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "已保存"})
}

// codeItemBody is the JSON body of a code item write.
type codeItemBody struct {
	Name    string `json:"name"`
	Parent  string `json:"parent_code"`
	Enabled *bool  `json:"enabled"`
}

// put stores the item as code in the code table named by the request path.
func (b *codeItemBody) put(m *Module, r *http.Request, code string, onlyNew bool) error {
	return m.PutCodeItem(r.Context(), r, r.PathValue("name"), code, b.Name, b.Parent, b.Enabled == nil || *b.Enabled, onlyNew)
}

// ---- pages ----

func (m *Module) render(w http.ResponseWriter, r *http.Request, status int, name, title string, crumbs []web.Crumb, data any) {
	if m.pages == nil {
		web.Fail(w, r, errors.New("dataset: pages not set"))
		return
	}
	m.pages.RenderStatus(w, r, status, name, web.PageData{Title: title, Crumbs: append([]web.Crumb{{Title: "数据治理"}}, crumbs...), Data: data})
}

func failPage(m *Module, w http.ResponseWriter, r *http.Request, err error) {
	var e *web.Error
	if !errors.As(err, &e) {
		web.Fail(w, r, err)
		return
	}
	m.render(w, r, e.Status, "dataset_error.html", "出错了", nil, e.Message)
}

func (m *Module) pageList(w http.ResponseWriter, r *http.Request) {
	var stats []*Stats
	for _, d := range All() {
		s, err := m.DatasetStats(r.Context(), caller(r), d)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		if !s.CanRead {
			s.Records, s.LastUpdated, s.Quarantine = 0, nil, 0
		}
		stats = append(stats, s)
	}
	m.render(w, r, http.StatusOK, "dataset_list.html", "数据集", []web.Crumb{{Title: "数据集"}}, map[string]any{
		"Stats": stats, "CanIngest": caller(r).Can(PermIngestRun), "CanQuarantine": caller(r).Can(PermQuarantineRead)})
}

// Cell is one field of a record as shown on a page.
type Cell struct {
	Field *Field
	Text  string
	Raw   any
}

// cells formats record values for display.
func cells(d *Dataset, cat *Catalog, rec *Record, names []string) []Cell {
	var out []Cell
	for _, n := range names {
		f, ok := d.Field(n)
		if !ok {
			continue
		}
		out = append(out, Cell{Field: f, Text: displayValue(f, cat, rec.Values[n]), Raw: rec.Values[n]})
	}
	return out
}

func displayValue(f *Field, cat *Catalog, v any) string {
	if v == nil || v == "" {
		return "—"
	}
	switch f.Type {
	case TypeBool:
		if b, ok := v.(bool); ok {
			if b {
				return "是"
			}
			return "否"
		}
	case TypeDateTime:
		if t, ok := v.(time.Time); ok {
			return t.In(web.Shanghai()).Format("2006-01-02 15:04:05")
		}
	case TypeCode:
		s := fmt.Sprint(v)
		if n := cat.Name(f.CodeTable, s); n != "" {
			return n + "（" + s + "）"
		}
		return s + "（不在代码表中）"
	case TypeIndustry:
		s := fmt.Sprint(v)
		if len(s) >= 2 {
			if n := cat.Name(CodeIndustry, s[:2]); n != "" {
				return s + " " + n
			}
		}
		return s
	case TypeRegion:
		s := fmt.Sprint(v)
		return regionLabel(s) + "（" + s + "）"
	case TypeDecimal:
		if f.Unit != "" {
			return fmt.Sprint(v) + " " + f.Unit
		}
	case TypeInt:
		if n, ok := v.(float64); ok { // from the extra JSON
			return strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return fmt.Sprint(v)
}

type recordsPage struct {
	D         *Dataset
	Stats     *Stats
	Filter    RecordFilter
	Query     url.Values
	Options   map[string][]option
	Regions   []iam.Region
	Columns   []*Field
	Rows      []recordRow
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	Error     string
	CanIngest bool
}

type recordRow struct {
	ID    int64
	Cells []Cell
}

type option struct{ Value, Label string }

// filterOptions are the choices of the dataset's filter fields.
func filterOptions(d *Dataset, cat *Catalog, items func(string) []CodeItem) map[string][]option {
	out := map[string][]option{}
	for _, n := range d.FilterFields {
		f, _ := d.Field(n)
		switch f.Type {
		case TypeEnum:
			for _, e := range f.Enum {
				out[n] = append(out[n], option{e, e})
			}
		case TypeBool:
			out[n] = []option{{"是", "是"}, {"否", "否"}}
		case TypeCode:
			for _, it := range items(f.CodeTable) {
				out[n] = append(out[n], option{it.Code, it.Name})
			}
		}
	}
	return out
}

func (m *Module) pageRecords(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p := caller(r)
		cat, err := LoadCatalog(ctx, m.db)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		data := recordsPage{D: d, Query: r.URL.Query(), CanIngest: p.Can(PermIngestRun)}
		data.Options = filterOptions(d, cat, func(t string) []CodeItem { it, _ := CodeItems(ctx, m.db, t); return it })
		data.Regions, _ = iam.ListRegions(ctx, m.db, p.Region)
		for _, n := range d.ListFields {
			f, _ := d.Field(n)
			data.Columns = append(data.Columns, f)
		}
		status := http.StatusOK
		f, ferr := ParseRecordFilter(d, r.URL.Query())
		pg, perr := web.Paging(r)
		data.Filter = f
		if ferr == nil {
			ferr = perr
		}
		if ferr != nil {
			var e *web.Error
			errors.As(ferr, &e)
			status, data.Error = http.StatusBadRequest, e.Message
		} else {
			recs, total, err := m.ListRecords(ctx, p, d, f, pg)
			if err != nil {
				web.Fail(w, r, err)
				return
			}
			for _, rec := range recs {
				data.Rows = append(data.Rows, recordRow{ID: rec.ID, Cells: cells(d, cat, rec, d.ListFields)})
			}
			data.Total, data.Page, data.Pages = total, pg.Page, (total+pg.Size-1)/pg.Size
			data.PrevURL, data.NextURL = web.PageLinks(r.URL, pg, total)
		}
		if data.Stats, err = m.DatasetStats(ctx, p, d); err != nil {
			web.Fail(w, r, err)
			return
		}
		m.render(w, r, status, "dataset_records.html", d.TitleZh, []web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh}}, data)
	}
}

func (m *Module) pageRecordByKey(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := m.FindByKey(r.Context(), caller(r), d, r.URL.Query()["k"])
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/datasets/%s/records/%d", d.Name, id), http.StatusSeeOther)
	}
}

func (m *Module) pageRecord(d *Dataset, unmask bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, err := web.PathInt64(r, "id")
		if err == nil && unmask {
			err = mustRead(r, d)
		}
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		rec, err := m.GetRecord(ctx, caller(r), d, id)
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		cat, err := LoadCatalog(ctx, m.db)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		var names []string
		hasSealed := false
		for _, f := range d.Fields {
			names = append(names, f.Name)
			hasSealed = hasSealed || f.Type.Sealed()
		}
		data := map[string]any{"D": d, "Rec": rec, "Cells": cells(d, cat, rec, names), "Unmasked": false,
			"CanUnmask": hasSealed && caller(r).Can(PermRecordUnmask)}
		if unmask {
			clear, err := m.Unmask(ctx, r, caller(r), d, id)
			if err != nil {
				failPage(m, w, r, err)
				return
			}
			cs := data["Cells"].([]Cell)
			for i := range cs {
				if v, ok := clear[cs[i].Field.Name]; ok {
					cs[i].Text = v
				}
			}
			data["Unmasked"] = true
		}
		if run, err := m.GetRun(ctx, caller(r), rec.LastRunID); err == nil {
			data["Run"] = run
		}
		title := d.TitleZh + "记录"
		if n, ok := rec.Values[d.NameField].(string); ok {
			title = n
		}
		m.render(w, r, http.StatusOK, "dataset_record.html", title, []web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh, Path: "/datasets/" + d.Name}, {Title: title}}, data)
	}
}

func (m *Module) pageUpload(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := mustRead(r, d); err != nil {
			failPage(m, w, r, err)
			return
		}
		m.render(w, r, http.StatusOK, "dataset_upload.html", "上传导入："+d.TitleZh,
			[]web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh, Path: "/datasets/" + d.Name}, {Title: "上传导入"}},
			map[string]any{"D": d, "MaxMB": m.maxUpload >> 20})
	}
}

func (m *Module) pageUploadPost(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _, err := m.upload(w, r, d, false)
		if err != nil {
			var e *web.Error
			if errors.As(err, &e) {
				m.render(w, r, e.Status, "dataset_upload.html", "上传导入："+d.TitleZh,
					[]web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh, Path: "/datasets/" + d.Name}, {Title: "上传导入"}},
					map[string]any{"D": d, "MaxMB": m.maxUpload >> 20, "Error": e.Message})
				return
			}
			web.Fail(w, r, err)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/ingest/runs/%d", id), http.StatusSeeOther)
	}
}

func (m *Module) pageRuns(w http.ResponseWriter, r *http.Request) {
	pg, err := web.Paging(r)
	if err != nil {
		failPage(m, w, r, err)
		return
	}
	q := r.URL.Query()
	f := RunFilter{Dataset: q.Get("dataset"), Status: q.Get("status"), Schedule: q.Get("schedule")}
	runs, total, err := m.ListRuns(r.Context(), caller(r), f, pg)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	data := map[string]any{"Runs": runs, "Total": total, "Page": pg.Page, "Pages": (total + pg.Size - 1) / pg.Size, "F": f, "Datasets": All(),
		"Statuses": StatusLabels, "Schedules": ScheduleLabels}
	data["PrevURL"], data["NextURL"] = web.PageLinks(r.URL, pg, total)
	m.render(w, r, http.StatusOK, "dataset_runs.html", "导入记录", []web.Crumb{{Title: "导入记录"}}, data)
}

func (m *Module) runPageData(r *http.Request) (map[string]any, error) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		return nil, err
	}
	run, err := m.GetRun(r.Context(), caller(r), id)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"Run": run, "CanRerun": caller(r).Can(PermIngestRun)}
	if d, ok := Get(run.Dataset); ok && run.Status != StatusRunning && caller(r).Can(PermQuarantineRead) && caller(r).Can(d.ReadPermission()) {
		rows, total, err := m.ListQuarantine(r.Context(), caller(r), d, QuarantineFilter{Status: "all", RunID: run.ID}, web.Page{Page: 1, Size: 100})
		if err != nil {
			return nil, err
		}
		data["D"], data["Quarantine"], data["QuarantineTotal"] = d, rows, total
		data["CanFix"] = caller(r).Can(PermQuarantineEdit)
	}
	var hasUpload int
	m.db.Get(r.Context(), &hasUpload, `SELECT COUNT(*) FROM ds_ingest_runs WHERE id = ? AND upload_id IS NOT NULL`, id)
	data["HasUpload"] = hasUpload > 0
	return data, nil
}

func (m *Module) pageRun(w http.ResponseWriter, r *http.Request) {
	data, err := m.runPageData(r)
	if err != nil {
		failPage(m, w, r, err)
		return
	}
	run := data["Run"].(*Run)
	m.render(w, r, http.StatusOK, "dataset_run.html", fmt.Sprintf("导入运行 #%d", run.ID), []web.Crumb{{Title: "导入记录", Path: "/ingest/runs"}, {Title: fmt.Sprintf("运行 #%d", run.ID)}}, data)
}

// pageRunProgress is the live part of the run page, polled by htmx every second while the
// run is going; when it has finished the page reloads to show the summary.
func (m *Module) pageRunProgress(w http.ResponseWriter, r *http.Request) {
	data, err := m.runPageData(r)
	if err != nil {
		failPage(m, w, r, err)
		return
	}
	if data["Run"].(*Run).Status != StatusRunning && r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Refresh", "true")
	}
	run := data["Run"].(*Run)
	m.render(w, r, http.StatusOK, "dataset_run.html", fmt.Sprintf("导入运行 #%d", run.ID), nil, data)
}

func (m *Module) pageQuarantine(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := mustRead(r, d); err != nil {
			failPage(m, w, r, err)
			return
		}
		pg, err := web.Paging(r)
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		q := r.URL.Query()
		run, _ := strconv.ParseInt(q.Get("run"), 10, 64)
		f := QuarantineFilter{Status: q.Get("status"), RunID: run, Field: q.Get("field"), Q: q.Get("q")}
		rows, total, err := m.ListQuarantine(r.Context(), caller(r), d, f, pg)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		var cols []*Field
		for _, n := range append(append([]string{}, d.Key...), d.NameField) {
			if fd, ok := d.Field(n); ok && !containsField(cols, n) {
				cols = append(cols, fd)
			}
		}
		data := map[string]any{"D": d, "Rows": rows, "Total": total, "Page": pg.Page, "Pages": (total + pg.Size - 1) / pg.Size, "F": f, "Cols": cols,
			"CanFix": caller(r).Can(PermQuarantineEdit)}
		data["PrevURL"], data["NextURL"] = web.PageLinks(r.URL, pg, total)
		m.render(w, r, http.StatusOK, "dataset_quarantine.html", "隔离区："+d.TitleZh,
			[]web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh, Path: "/datasets/" + d.Name}, {Title: "隔离区"}}, data)
	}
}

func containsField(fs []*Field, n string) bool {
	for _, f := range fs {
		if f.Name == n {
			return true
		}
	}
	return false
}

func (m *Module) pageQuarantineRow(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := web.PathInt64(r, "id")
		if err == nil {
			err = mustRead(r, d)
		}
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		row, err := m.GetQuarantine(r.Context(), caller(r), d, id)
		if err != nil {
			failPage(m, w, r, err)
			return
		}
		var fields []*Field
		for i := range d.Fields {
			if !d.Fields[i].Derived {
				fields = append(fields, &d.Fields[i])
			}
		}
		m.render(w, r, http.StatusOK, "dataset_quarantine_row.html", fmt.Sprintf("隔离记录 #%d", id),
			[]web.Crumb{{Title: "数据集", Path: "/datasets"}, {Title: d.TitleZh, Path: "/datasets/" + d.Name}, {Title: "隔离区", Path: "/datasets/" + d.Name + "/quarantine"}, {Title: fmt.Sprintf("#%d", id)}},
			map[string]any{"D": d, "Row": row, "Fields": fields, "Raw": row.Values[rawKey], "CanFix": caller(r).Can(PermQuarantineEdit) && row.Status == QuarantineOpen})
	}
}
