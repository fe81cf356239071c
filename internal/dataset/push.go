package dataset

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Real-time push from the exchange platform: POST /api/v1/datasets/<name>/push with an API
// token (Authorization: Bearer …, permission dataset.push.write), a JSON array of records
// (or {"records": […]}) and an Idempotency-Key header. A repeated key returns the first
// answer without running again; the same key with a different body is refused.
//
// The key is claimed before the batch runs, atomically: the request that inserts the key's
// row in ds_push_keys (primary key dataset + key) is the only one that runs the batch. A
// request with the same key arriving while that batch is still being processed is answered
// 409 idempotency_key_in_progress with Retry-After, and its retry gets the first answer (the
// behaviour of the IETF Idempotency-Key draft and of the common payment APIs). Waiting instead
// would hold the exchange platform's connection for the whole run, and a platform that retries
// because its first request timed out would time out again. A batch that does not commit (an
// error, the client gone) releases its key, so the platform may retry with the same key; a key
// whose request died (its run interrupted, or no run started within staleAfter) is taken over
// by the next request.

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
		objs, err := decodeBatch(body) // a malformed batch claims no key
		if err != nil {
			web.Fail(w, r, err)
			return
		}
		committed := false
		var claim string
		if key != "" {
			var prev *pushAnswer
			claim, prev, err = m.claimPushKey(ctx, d.Name, key, hash)
			switch {
			case err != nil:
				web.Fail(w, r, err)
				return
			case prev != nil && prev.BodySHA256 != hash:
				web.Fail(w, r, web.Errorf(http.StatusConflict, "idempotency_key_reused", "Idempotency-Key %q 已用于内容不同的一批数据", key))
				return
			case prev != nil && prev.Status == StatusRunning:
				w.Header().Set("Retry-After", "2")
				web.Fail(w, r, web.Errorf(http.StatusConflict, "idempotency_key_in_progress", "Idempotency-Key %q 的这批数据正在处理中，请稍后用同一 Idempotency-Key 重试以取得处理结果", key))
				return
			case prev != nil:
				w.Header().Set("Idempotent-Replayed", "true")
				web.JSON(w, http.StatusOK, prev)
				return
			}
			defer func() {
				if !committed { // release the key: the platform may retry with it
					m.db.Exec(context.WithoutCancel(ctx), `DELETE FROM ds_push_keys WHERE dataset = ? AND idem_key = ? AND response = ?`, d.Name, key, claim)
				}
			}()
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
			// The answer replaces this request's claim, unless the claim was taken over.
			a := pushAnswer{Result: *res, IdempotencyKey: key, BodySHA256: hash}
			b, _ := json.Marshal(a)
			up, err := tx.Exec(ctx, `UPDATE ds_push_keys SET run_id = ?, response = ?, created_at = ? WHERE dataset = ? AND idem_key = ? AND response = ?`,
				res.RunID, string(b), m.now(), d.Name, key, claim)
			if err != nil {
				return err
			}
			if n, err := up.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("Idempotency-Key %q 已由另一请求接管处理，本次运行不提交", key)
			}
			return nil
		}
		if o.RunID, err = m.StartRun(ctx, o); err != nil {
			web.Fail(w, r, err)
			return
		}
		if key != "" {
			// Tie the claim to the run: it stays alive as long as the run's heartbeat does.
			if _, err := m.db.Exec(ctx, `UPDATE ds_push_keys SET run_id = ? WHERE dataset = ? AND idem_key = ? AND response = ?`, o.RunID, d.Name, key, claim); err != nil {
				web.Fail(w, r, err)
				return
			}
		}
		res, err := m.runSource(ctx, d, src, o)
		if res == nil {
			web.Fail(w, r, err)
			return
		}
		committed = res.Status == StatusCommitted
		status := http.StatusOK
		if !committed {
			status = http.StatusUnprocessableEntity
		}
		web.JSON(w, status, pushAnswer{Result: *res, IdempotencyKey: key, BodySHA256: hash})
	}
}

// pushClaim is the response column of a key whose batch is being processed.
type pushClaim struct {
	Status     string `json:"status"` // StatusRunning
	BodySHA256 string `json:"body_sha256"`
	Claim      string `json:"claim"` // random: tells this claim from a later one of the same key and body
}

// claimPushKey makes the caller the one request that processes the batch of (dataset, key):
// it inserts the key's row holding a new claim, or takes over the claim of a request that died.
// Otherwise it returns the key's answer: the first request's (committed) answer, or a claim
// (Status running) while that request is still processing. Every later change of the row is
// conditional on the claim it holds, so that two requests never both own a key.
func (m *Module) claimPushKey(ctx context.Context, dataset, key, hash string) (claim string, prev *pushAnswer, err error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	b, _ := json.Marshal(pushClaim{Status: StatusRunning, BodySHA256: hash, Claim: hex.EncodeToString(nonce)})
	claim = string(b)
	for range 5 {
		ins, err := m.db.Exec(ctx, `INSERT INTO ds_push_keys(dataset, idem_key, run_id, response, created_at) VALUES (?, ?, 0, ?, ?)
			ON CONFLICT (dataset, idem_key) DO NOTHING`, dataset, key, claim, m.now())
		if err != nil {
			return "", nil, err
		}
		if n, err := ins.RowsAffected(); err != nil {
			return "", nil, err
		} else if n == 1 {
			return claim, nil, nil
		}
		var row struct {
			RunID     int64     `db:"run_id"`
			Response  string    `db:"response"`
			CreatedAt time.Time `db:"created_at"`
		}
		err = m.db.Get(ctx, &row, `SELECT run_id, response, created_at FROM ds_push_keys WHERE dataset = ? AND idem_key = ?`, dataset, key)
		if err == store.ErrNotFound {
			continue // released meanwhile
		}
		if err != nil {
			return "", nil, err
		}
		var a pushAnswer
		if err := json.Unmarshal([]byte(row.Response), &a); err != nil {
			return "", nil, fmt.Errorf("Idempotency-Key %q 的记录无法读取：%w", key, err)
		}
		if a.Status != StatusRunning {
			return "", &a, nil
		}
		if dead, err := m.pushClaimDead(ctx, row.RunID, row.CreatedAt); err != nil || !dead {
			return "", &a, err
		}
		up, err := m.db.Exec(ctx, `UPDATE ds_push_keys SET run_id = 0, response = ?, created_at = ? WHERE dataset = ? AND idem_key = ? AND response = ?`,
			claim, m.now(), dataset, key, row.Response)
		if err != nil {
			return "", nil, err
		}
		if n, err := up.RowsAffected(); err != nil {
			return "", nil, err
		} else if n == 1 {
			return claim, nil, nil
		}
		// Changed meanwhile (answered, released or taken over by another request): look again.
	}
	return "", nil, web.Errorf(http.StatusConflict, "idempotency_key_in_progress", "Idempotency-Key %q 的这批数据正在处理中，请稍后重试", key)
}

// pushClaimDead tells whether the request holding a claim died: its run stopped without
// committing or lost its heartbeat, or it started no run within staleAfter.
func (m *Module) pushClaimDead(ctx context.Context, runID int64, claimed time.Time) (bool, error) {
	cutoff := m.now().Add(-staleAfter)
	if runID == 0 {
		return claimed.Before(cutoff), nil
	}
	var run struct {
		Status    string    `db:"status"`
		Heartbeat time.Time `db:"heartbeat_at"`
	}
	err := m.db.Get(ctx, &run, `SELECT status, heartbeat_at FROM ds_ingest_runs WHERE id = ?`, runID)
	if err == store.ErrNotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return run.Status != StatusRunning || run.Heartbeat.Before(cutoff), nil
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

// canUseDataset refuses a caller who may not read the dataset a connector writes into: a
// connector is configured, run and seen only by those who can read its data.
func canUseDataset(r *http.Request, name, verb string) error {
	if d, ok := Get(name); !ok || !caller(r).Can(d.ReadPermission()) {
		return web.Errorf(http.StatusForbidden, "forbidden", "无权%s该连接：需要“查看数据集：%s”权限", verb, name)
	}
	return nil
}

func (m *Module) apiSaveConnector(w http.ResponseWriter, r *http.Request) {
	web.SaveHandler("已保存", func(r *http.Request, id int64, in ConnectorInput) (int64, error) {
		if id != 0 { // the connector as it is, and as it will be
			c, err := m.GetConnector(r.Context(), m.db, id)
			if err != nil {
				return 0, err
			}
			if err := canUseDataset(r, c.Dataset, "修改"); err != nil {
				return 0, err
			}
		}
		if _, ok := Get(in.Dataset); ok {
			if err := canUseDataset(r, in.Dataset, "配置"); err != nil {
				return 0, err
			}
		}
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
	if err := canUseDataset(r, c.Dataset, "运行"); err != nil {
		web.Fail(w, r, err)
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
