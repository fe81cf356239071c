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
	"strings"

	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Real-time push from the exchange platform: POST /api/v1/datasets/<name>/push with an API
// token (Authorization: Bearer …, permission dataset.push.write), a JSON array of records
// (or {"records": […]}) and an Idempotency-Key header. A repeated key returns the first
// answer without running again; the same key with a different body is refused.

// MaxPushRecords bounds one pushed batch.
const MaxPushRecords = 10000

type pushAnswer struct {
	Result
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	BodySHA256     string `json:"body_sha256"`
}

func (m *Module) apiPush(d *Dataset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if len(key) > 128 {
			web.Fail(w, r, web.Errorf(http.StatusBadRequest, "bad_idempotency_key", "Idempotency-Key 不能超过 128 个字符"))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				web.Fail(w, r, web.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "推送内容超过 %d 字节上限，请分批推送", mbe.Limit))
				return
			}
			web.Fail(w, r, err)
			return
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		if key != "" {
			var prev string
			err := m.db.Get(ctx, &prev, `SELECT response FROM ds_push_keys WHERE dataset = ? AND idem_key = ?`, d.Name, key)
			if err == nil {
				var a pushAnswer
				json.Unmarshal([]byte(prev), &a)
				if a.BodySHA256 != hash {
					web.Fail(w, r, web.Errorf(http.StatusConflict, "idempotency_key_reused", "Idempotency-Key %q 已用于内容不同的一批数据", key))
					return
				}
				w.Header().Set("Idempotent-Replayed", "true")
				web.JSON(w, http.StatusOK, a)
				return
			}
			if err != store.ErrNotFound {
				web.Fail(w, r, err)
				return
			}
		}
		objs, err := decodeBatch(body)
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		src := objectsSource(objs, fmt.Sprintf("实时推送 %d 条", len(objs)))
		name := "实时推送"
		if key != "" {
			name += "：" + truncate(key, 60)
		}
		o := defaults(d, Options{Dataset: d.Name, TaskName: d.TitleZh + "实时推送", Schedule: ScheduleRealtime, Kind: KindHTTPPush, SourceName: name,
			Principal: caller(r), Request: r, BytesTotal: int64(len(body))})
		o.OnCommit = func(ctx context.Context, tx *store.Tx, res *Result) error {
			if key == "" {
				return nil
			}
			a := pushAnswer{Result: *res, IdempotencyKey: key, BodySHA256: hash}
			b, _ := json.Marshal(a)
			_, err := tx.Exec(ctx, `INSERT INTO ds_push_keys(dataset, idem_key, run_id, response, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (dataset, idem_key) DO NOTHING`,
				d.Name, key, res.RunID, string(b), m.now())
			return err
		}
		if o.RunID, err = m.StartRun(ctx, o); err != nil {
			web.Fail(w, r, err)
			return
		}
		res, err := m.runSource(ctx, d, src, o)
		if res == nil {
			web.Fail(w, r, err)
			return
		}
		status := http.StatusOK
		if res.Status != StatusCommitted {
			status = http.StatusUnprocessableEntity
		}
		web.JSON(w, status, pushAnswer{Result: *res, IdempotencyKey: key, BodySHA256: hash})
	}
}

// decodeBatch reads a JSON array of objects or {"records": [...]}.
func decodeBatch(body []byte) ([]map[string]any, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, web.Errorf(http.StatusBadRequest, "empty_batch", "推送内容为空")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var objs []map[string]any
	if t[0] == '{' {
		var wrap struct {
			Records []map[string]any `json:"records"`
		}
		if err := dec.Decode(&wrap); err != nil {
			return nil, web.Errorf(http.StatusBadRequest, "bad_json", "推送内容不是有效的 JSON：%v", err)
		}
		objs = wrap.Records
	} else if err := dec.Decode(&objs); err != nil {
		return nil, web.Errorf(http.StatusBadRequest, "bad_json", "推送内容应为 JSON 对象数组：%v", err)
	}
	if len(objs) == 0 {
		return nil, web.Errorf(http.StatusBadRequest, "empty_batch", "推送内容没有记录")
	}
	if len(objs) > MaxPushRecords {
		return nil, web.Errorf(http.StatusRequestEntityTooLarge, "batch_too_large", "一批最多 %d 条记录，本批 %d 条，请分批推送", MaxPushRecords, len(objs))
	}
	return objs, nil
}

// ---- connector API and page ----

// readableConnectors keeps the connectors of datasets the caller may read: a connector's
// address and mapping describe its dataset.
func readableConnectors(r *http.Request, cs []Connector) []Connector {
	out := []Connector{}
	for _, c := range cs {
		if d, ok := Get(c.Dataset); ok && caller(r).Can(d.ReadPermission()) {
			out = append(out, c)
		}
	}
	return out
}

func (m *Module) apiConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := m.Connectors(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	cs = readableConnectors(r, cs)
	web.JSON(w, http.StatusOK, map[string]any{"items": cs})
}

func (m *Module) apiSaveConnector(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("已保存", func(r *http.Request, id int64, in ConnectorInput) (int64, error) {
		return m.SaveConnector(r.Context(), r, id, in)
	})(w, r)
}

func (m *Module) apiRunConnector(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	c, err := m.GetConnector(r.Context(), m.db, id)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	if d, ok := Get(c.Dataset); !ok || !caller(r).Can(d.ReadPermission()) {
		web.Fail(w, r, web.Errorf(http.StatusForbidden, "forbidden", "无权运行该连接：需要“查看数据集：%s”权限", c.Dataset))
		return
	}
	res, err := m.RunConnector(r.Context(), id, ScheduleManual, caller(r), r)
	if res == nil {
		web.Fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Status != StatusCommitted {
		status = http.StatusUnprocessableEntity
	}
	web.JSON(w, status, map[string]any{"result": res, "run_id": res.RunID, "id": res.RunID,
		"message": fmt.Sprintf("运行 #%d：读取 %d 条，写入 %d 条，隔离 %d 条", res.RunID, res.Read, res.Upserted, res.Quarantined)})
}

func (m *Module) pageConnectors(w http.ResponseWriter, r *http.Request) {
	cs, err := m.Connectors(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	cs = readableConnectors(r, cs)
	for i := range cs {
		var last *int64
		m.db.Get(r.Context(), &last, `SELECT MAX(id) FROM ds_ingest_runs WHERE connector_id = ?`, cs[i].ID)
		cs[i].LastRunID = last
	}
	m.render(w, r, http.StatusOK, "dataset_connectors.html", "数据源连接", []web.Crumb{{Title: "数据源连接"}},
		map[string]any{"Connectors": cs, "CanRun": caller(r).Can(PermIngestRun), "CanEdit": caller(r).Can(PermConnectorWrite)})
}
