package dataset

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
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

	_ "github.com/go-sql-driver/mysql" // MySQL / MariaDB sources
)

// ---- HTTP pull: a paged JSON API ----

// httpSource reads a paged JSON API page by page: ?page=1&size=500[&cursor_param=cursor].
// A page shorter than the page size ends the run.
type httpSource struct {
	ctx     context.Context
	cfg     ConnectorConfig
	secret  string
	cursor  string
	client  *http.Client
	page    int
	buf     []map[string]any
	js      *jsonSource
	done    bool
	max     cursorMax
	n       int
	bytes   int64
	pages   int
	retries int
}

func newHTTPSource(ctx context.Context, cfg ConnectorConfig, secret, cursor string, timeout time.Duration) *httpSource {
	if cfg.PageParam == "" {
		cfg.PageParam = "page"
	}
	if cfg.SizeParam == "" {
		cfg.SizeParam = "size"
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 10000
	}
	s := &httpSource{ctx: ctx, cfg: cfg, secret: secret, cursor: cursor, client: &http.Client{Timeout: timeout}, page: 1,
		js: &jsonSource{colIdx: map[string]int{}}}
	s.max.v = cursor
	return s
}

func (s *httpSource) Columns() []string { return s.js.cols }
func (s *httpSource) Fixed() bool       { return false }
func (s *httpSource) Offset() int64     { return s.bytes }
func (s *httpSource) Cursor() string    { return s.max.v }
func (s *httpSource) Close() error      { return nil }
func (s *httpSource) Describe() string {
	return fmt.Sprintf("HTTP 拉取 %s（%d 页）", redactQuery(s.cfg.URL), s.pages)
}

func redactQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func (s *httpSource) Next() (*record, error) {
	for len(s.buf) == 0 {
		if s.done {
			return nil, io.EOF
		}
		if err := s.fetch(); err != nil {
			return nil, err
		}
	}
	obj := s.buf[0]
	s.buf = s.buf[1:]
	s.n++
	if s.cfg.CursorField != "" {
		s.max.see(jsonString(obj[s.cfg.CursorField]))
	}
	return s.js.object(s.n, obj), nil
}

// SignRequest adds the signed-request headers: X-App-Id, X-Timestamp (Unix seconds),
// X-Nonce and X-Signature = hex(HMAC-SHA256(secret, METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE)).
func SignRequest(req *http.Request, appID, secret string, now time.Time) {
	var nb [12]byte
	rand.Read(nb[:])
	nonce := hex.EncodeToString(nb[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(req.Method + "\n" + req.URL.RequestURI() + "\n" + ts + "\n" + nonce))
	req.Header.Set("X-App-Id", appID)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", hex.EncodeToString(mac.Sum(nil)))
}

func (s *httpSource) fetch() error {
	if s.pages >= s.cfg.MaxPages {
		return fatalf("已读取 %d 页仍未结束，超过上限（max_pages），请检查分页参数", s.pages)
	}
	u, err := url.Parse(s.cfg.URL)
	if err != nil {
		return fatalf("接口地址无效：%v", err)
	}
	q := u.Query()
	q.Set(s.cfg.PageParam, strconv.Itoa(s.page))
	q.Set(s.cfg.SizeParam, strconv.Itoa(s.cfg.PageSize))
	if s.cfg.CursorParam != "" && s.cursor != "" {
		q.Set(s.cfg.CursorParam, s.cursor)
	}
	u.RawQuery = q.Encode()
	var body []byte
	for attempt := 1; ; attempt++ {
		body, err = s.get(u.String())
		if err == nil {
			break
		}
		var f *fatal
		if errors.As(err, &f) || attempt == 3 || s.ctx.Err() != nil {
			return err
		}
		s.retries++
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(time.Duration(attempt*attempt) * 500 * time.Millisecond):
		}
	}
	s.bytes += int64(len(body))
	s.pages++
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fatalf("第 %d 页不是有效的 JSON：%v", s.page, err)
	}
	items := doc
	if s.cfg.RecordsPath != "" {
		for _, k := range strings.Split(s.cfg.RecordsPath, ".") {
			m, ok := items.(map[string]any)
			if !ok {
				return fatalf("第 %d 页没有找到记录数组 %q", s.page, s.cfg.RecordsPath)
			}
			items = m[k]
		}
	}
	arr, ok := items.([]any)
	if !ok && items != nil {
		return fatalf("第 %d 页的 %q 不是数组", s.page, s.cfg.RecordsPath)
	}
	for i, it := range arr {
		obj, ok := it.(map[string]any)
		if !ok {
			return fatalf("第 %d 页第 %d 条不是 JSON 对象", s.page, i+1)
		}
		s.buf = append(s.buf, obj)
	}
	if len(arr) < s.cfg.PageSize {
		s.done = true
	}
	s.page++
	return nil
}

// get performs one request; a 4xx answer is fatal (retrying cannot help), a 5xx or a network
// error may be retried.
func (s *httpSource) get(u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fatalf("接口地址无效：%v", err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	switch s.cfg.Auth {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+s.secret)
	case "signed":
		SignRequest(req, s.cfg.AppID, s.secret, time.Now())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("请求接口失败：%w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("读取接口应答失败：%w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fatalf("接口拒绝访问（HTTP %d）：请检查令牌或签名密钥", resp.StatusCode)
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("接口返回 HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fatalf("接口返回 HTTP %d：%s", resp.StatusCode, truncate(string(body), 200))
	}
	return body, nil
}

// ---- SQL pull: a PostgreSQL or MySQL table with an incremental cursor column ----

// sqlSource reads rows with cursor_field in (cursor, until], until being the column's maximum
// when the run starts (a fixed upper bound, so rows committed during the run are read by the
// next one). The next cursor is until.
type sqlSource struct {
	db    *sql.DB
	rows  *sql.Rows
	cols  []string
	vals  []any
	n     int
	until string
	desc  string
	mysql bool
}

func openSQLSource(ctx context.Context, cfg ConnectorConfig, dsn, cursor string, timeout time.Duration) (*sqlSource, error) {
	driver := "pgx"
	if cfg.Driver == "mysql" {
		driver = "mysql"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fatalf("数据库连接串无效：%v", err)
	}
	db.SetMaxOpenConns(2)
	s := &sqlSource{db: db, mysql: driver == "mysql", desc: fmt.Sprintf("数据库拉取 %s.%s", cfg.Driver, cfg.Table)}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("连接源数据库失败：%w", err)
	}
	ph := func(n int) string {
		if s.mysql {
			return "?"
		}
		return "$" + strconv.Itoa(n)
	}
	where := ""
	if cfg.Where != "" {
		where = " AND (" + cfg.Where + ")"
	}
	var until any
	if err := db.QueryRowContext(pctx, "SELECT MAX("+cfg.CursorField+") FROM "+cfg.Table+" WHERE 1 = 1"+where).Scan(&until); err != nil {
		db.Close()
		return nil, fmt.Errorf("读取源表 %s 失败：%w", cfg.Table, err)
	}
	if until == nil { // empty source
		s.until = cursor
		return s, nil
	}
	s.until = s.text(until)
	cols := cfg.Cols
	if cols == "" {
		cols = "*"
	}
	q := "SELECT " + cols + " FROM " + cfg.Table + " WHERE " + cfg.CursorField + " <= " + ph(1)
	args := []any{s.until}
	if cursor != "" {
		q += " AND " + cfg.CursorField + " > " + ph(2)
		args = append(args, cursor)
	}
	q += where + " ORDER BY " + cfg.CursorField
	if s.rows, err = db.QueryContext(ctx, q, args...); err != nil {
		db.Close()
		return nil, fmt.Errorf("查询源表 %s 失败：%w", cfg.Table, err)
	}
	if s.cols, err = s.rows.Columns(); err != nil {
		s.Close()
		return nil, err
	}
	s.vals = make([]any, len(s.cols))
	return s, nil
}

// text renders a driver value as the parsers read it; times keep their precision so that a
// cursor compares exactly.
func (s *sqlSource) text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case time.Time:
		if s.mysql {
			return x.UTC().Format("2006-01-02 15:04:05.999999")
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return fmt.Sprint(v)
}

func (s *sqlSource) Columns() []string { return s.cols }
func (s *sqlSource) Fixed() bool       { return s.rows != nil }
func (s *sqlSource) Offset() int64     { return int64(s.n) }
func (s *sqlSource) Describe() string  { return s.desc }
func (s *sqlSource) Cursor() string    { return s.until }

func (s *sqlSource) Next() (*record, error) {
	if s.rows == nil || !s.rows.Next() {
		if s.rows != nil {
			if err := s.rows.Err(); err != nil {
				return nil, fmt.Errorf("读取源表失败：%w", err)
			}
		}
		return nil, io.EOF
	}
	ptrs := make([]any, len(s.vals))
	for i := range s.vals {
		ptrs[i] = &s.vals[i]
	}
	if err := s.rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("读取源表失败：%w", err)
	}
	s.n++
	out := make([]string, len(s.vals))
	for i, v := range s.vals {
		out[i] = s.text(v)
	}
	return &record{line: s.n, vals: out}, nil
}

func (s *sqlSource) Close() error {
	if s.rows != nil {
		s.rows.Close()
	}
	return s.db.Close()
}
