package dataset

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// fakeAPI is a paged JSON API of enterprise records ({"code":0,"data":{"items":[…]}}) with
// bearer-token or signed-request authentication and an updated_after filter.
type fakeAPI struct {
	mu       sync.Mutex
	records  []map[string]any
	token    string
	appID    string
	secret   string
	failPage int // answer this page with 401
	requests int
}

func (f *fakeAPI) add(i int, updated string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, map[string]any{"uscc": validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("P%07d", i)),
		"name": fmt.Sprintf("拉取企业%d", i), "region_code": "610113", "updated_at": updated})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	switch {
	case f.token != "":
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	case f.secret != "":
		mac := hmac.New(sha256.New, []byte(f.secret))
		mac.Write([]byte(r.Method + "\n" + r.URL.RequestURI() + "\n" + r.Header.Get("X-Timestamp") + "\n" + r.Header.Get("X-Nonce")))
		ts, _ := strconv.ParseInt(r.Header.Get("X-Timestamp"), 10, 64)
		if r.Header.Get("X-App-Id") != f.appID || !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get("X-Signature"))) ||
			time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size, _ := strconv.Atoi(r.URL.Query().Get("size"))
	if page == f.failPage {
		http.Error(w, "denied", http.StatusUnauthorized)
		return
	}
	after := r.URL.Query().Get("updated_after")
	var sel []map[string]any
	for _, rec := range f.records {
		if after == "" || rec["updated_at"].(string) > after {
			sel = append(sel, rec)
		}
	}
	from, to := (page-1)*size, page*size
	from, to = min(from, len(sel)), min(to, len(sel))
	json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": map[string]any{"items": sel[from:to], "total": len(sel)}})
}

func TestHTTPPull(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		req := httptest.NewRequest("POST", "/", nil)
		api := &fakeAPI{token: "tok-123"}
		for i := 0; i < 25; i++ {
			api.add(i, fmt.Sprintf("2024-01-%02d 10:00:00", 1+i))
		}
		srv := httptest.NewServer(api)
		defer srv.Close()
		secret := "tok-123"
		id, err := m.SaveConnector(ctx, req, 0, ConnectorInput{Name: "交换平台企业接口", Dataset: "enterprise", Kind: ConnHTTPPull, Secret: &secret,
			Config: ConnectorConfig{URL: srv.URL + "/api/ent", Auth: "bearer", PageSize: 10, RecordsPath: "data.items", CursorParam: "updated_after", CursorField: "updated_at"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.RunConnector(ctx, id, ScheduleManual, nil, nil)
		if err != nil || res.Upserted != 25 || res.Read != 25 {
			t.Fatalf("first pull: %+v %v", res, err)
		}
		c, _ := m.GetConnector(ctx, db, id)
		if c.Cursor != "2024-01-25 10:00:00" || c.HasSecret != true {
			t.Fatalf("cursor after first pull: %+v", c)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE connector_id = ? AND source_kind = 'http_pull'`, id); n != 1 {
			t.Errorf("runs: %d", n)
		}
		// New records: only they are read.
		for i := 25; i < 32; i++ {
			api.add(i, fmt.Sprintf("2024-02-%02d 10:00:00", i-24))
		}
		// A run that fails on its second page does not move the cursor.
		api.failPage = 1
		if res, err := m.RunConnector(ctx, id, ScheduleScheduled, nil, nil); err == nil || res.Status != StatusFailed {
			t.Fatalf("failing pull: %+v %v", res, err)
		}
		if c, _ := m.GetConnector(ctx, db, id); c.Cursor != "2024-01-25 10:00:00" {
			t.Fatalf("cursor moved by a failed run: %q", c.Cursor)
		}
		api.failPage = 0
		res, err = m.RunConnector(ctx, id, ScheduleScheduled, nil, nil)
		if err != nil || res.Read != 7 || res.Upserted != 7 {
			t.Fatalf("incremental pull: %+v %v", res, err)
		}
		if c, _ := m.GetConnector(ctx, db, id); c.Cursor != "2024-02-07 10:00:00" {
			t.Fatalf("cursor after incremental pull: %q", c.Cursor)
		}
		// Signed requests; a wrong secret is refused with a clear reason.
		sapi := &fakeAPI{appID: "zhsj", secret: "s3cret"}
		sapi.add(100, "2024-03-01 00:00:00")
		ssrv := httptest.NewServer(sapi)
		defer ssrv.Close()
		wrong := "nope"
		sid, err := m.SaveConnector(ctx, req, 0, ConnectorInput{Name: "签名接口", Dataset: "enterprise", Kind: ConnHTTPPull, Secret: &wrong,
			Config: ConnectorConfig{URL: ssrv.URL, Auth: "signed", AppID: "zhsj", RecordsPath: "data.items"}})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := m.RunConnector(ctx, sid, ScheduleManual, nil, nil); err == nil || !strings.Contains(res.Error, "签名密钥") {
			t.Fatalf("wrong secret: %+v %v", res, err)
		}
		right := "s3cret"
		if _, err := m.SaveConnector(ctx, req, sid, ConnectorInput{Name: "签名接口", Dataset: "enterprise", Kind: ConnHTTPPull, Secret: &right,
			Config: ConnectorConfig{URL: ssrv.URL, Auth: "signed", AppID: "zhsj", RecordsPath: "data.items"}}); err != nil {
			t.Fatal(err)
		}
		if res, err := m.RunConnector(ctx, sid, ScheduleManual, nil, nil); err != nil || res.Upserted != 1 {
			t.Fatalf("signed pull: %+v %v", res, err)
		}
		// Validation of connector input.
		for _, in := range []ConnectorInput{
			{Name: "x", Dataset: "nosuch", Kind: ConnHTTPPull, Config: ConnectorConfig{URL: "http://a"}},
			{Name: "x", Dataset: "enterprise", Kind: ConnHTTPPull, Config: ConnectorConfig{URL: "ftp://a"}},
			{Name: "x", Dataset: "enterprise", Kind: ConnSQLPull, Config: ConnectorConfig{Driver: "postgres", Table: "t; DROP TABLE x", CursorField: "id"}},
			{Name: "x", Dataset: "enterprise", Kind: ConnSQLPull, Config: ConnectorConfig{Driver: "postgres", Table: "t", CursorField: "id", Where: "1=1; DELETE"}},
			{Name: "x", Dataset: "enterprise", Kind: ConnHTTPPull, Config: ConnectorConfig{URL: "http://a"}, Schedule: "bad cron"},
		} {
			if _, err := m.SaveConnector(ctx, req, 0, in); err == nil {
				t.Errorf("accepted %+v", in)
			}
		}
		if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.connector.save'`); n != 3 {
			t.Errorf("connector audit records: %d", n)
		}
	})
}

// TestSQLPull pulls from a PostgreSQL table and from a MariaDB table with an incremental
// cursor, into the zhsj database on SQLite and on PostgreSQL. The cursor advances only when a
// run commits: a run whose write fails leaves it where it was, and the next run reads the same
// rows again; a rerun with nothing new reads and writes nothing.
func TestSQLPull(t *testing.T) {
	t.Parallel()
	type srcDB struct {
		driver    string
		wantFirst string // the cursor after the first run: the column's maximum as text
	}
	var sources []srcDB
	if os.Getenv("ZHSJ_TEST_POSTGRES_URL") != "" {
		sources = append(sources, srcDB{"postgres", "2024-05-01 08:29:00.123456Z"})
	} else if storetest.RequireAll() {
		t.Fatal("ZHSJ_TEST_REQUIRE_ALL=1 but ZHSJ_TEST_POSTGRES_URL is not set")
	}
	mysqlDSN := "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	if db, err := sql.Open("mysql", mysqlDSN); err == nil {
		if db.Ping() == nil {
			sources = append(sources, srcDB{"mysql", "2024-05-01 08:29:00.123456"})
		} else if storetest.RequireAll() {
			t.Fatal("MariaDB not reachable")
		}
		db.Close()
	}
	if len(sources) == 0 {
		t.Skip("no source database")
	}
	for _, s := range sources {
		t.Run(s.driver, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				// Each target gets its own source table: a fresh PostgreSQL database, or a
				// MariaDB table with a unique name.
				driver, dsn, table := "pgx", "", "src_ent"
				var create string
				if s.driver == "mysql" {
					driver, dsn = "mysql", mysqlDSN
					var b [6]byte
					rand.Read(b[:])
					table = "src_ent_" + hex.EncodeToString(b[:])
					create = "CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, credit_code VARCHAR(32), ent_name VARCHAR(100), area VARCHAR(20), updated_at DATETIME(6))"
				} else {
					dsn = storetest.PostgresURL(t)
					create = `CREATE TABLE src_ent (id BIGINT PRIMARY KEY, credit_code TEXT, ent_name TEXT, area TEXT, updated_at TIMESTAMPTZ)`
				}
				src, err := sql.Open(driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { src.Close() })
				if _, err := src.Exec(create); err != nil {
					t.Fatal(err)
				}
				if s.driver == "mysql" {
					t.Cleanup(func() { src.Exec("DROP TABLE " + table) })
				}
				ph := func(n int) string {
					if s.driver == "mysql" {
						return "?"
					}
					return "$" + strconv.Itoa(n)
				}
				insert := func(i int, at time.Time) {
					if _, err := src.Exec("INSERT INTO "+table+" VALUES ("+ph(1)+", "+ph(2)+", "+ph(3)+", "+ph(4)+", "+ph(5)+")",
						i, validate.MakeUSCC('9', '1', "610302", fmt.Sprintf("Q%07d", i)), fmt.Sprintf("库表企业%d", i), "渭滨区", at); err != nil {
						t.Fatal(err)
					}
				}
				base := time.Date(2024, 5, 1, 8, 0, 0, 123456000, time.UTC)
				for i := 0; i < 30; i++ {
					insert(i, base.Add(time.Duration(i)*time.Minute))
				}
				m := newModule(t, db)
				id, err := m.SaveConnector(ctx, httptest.NewRequest("POST", "/", nil), 0, ConnectorInput{Name: "登记库同步", Dataset: "enterprise", Kind: ConnSQLPull, Secret: &dsn,
					Config: ConnectorConfig{Driver: s.driver, Table: table, Cols: "credit_code, ent_name, area, updated_at", CursorField: "updated_at",
						Mapping: Mapping{"credit_code": "uscc", "ent_name": "name", "area": "region_code", "updated_at": "-"}}})
				if err != nil {
					t.Fatal(err)
				}
				cursor := func() string {
					t.Helper()
					c, err := m.GetConnector(ctx, db, id)
					if err != nil {
						t.Fatal(err)
					}
					return c.Cursor
				}
				rows := func() int {
					return count(t, db, `SELECT COUNT(*) FROM ds_enterprise WHERE region_code = '610302'`)
				}
				res, err := m.RunConnector(ctx, id, ScheduleScheduled, nil, nil)
				if err != nil || res.Status != StatusCommitted || res.Read != 30 || res.Upserted != 30 {
					t.Fatalf("first pull: %+v %v", res, err)
				}
				if c := cursor(); c != s.wantFirst {
					t.Fatalf("cursor after the first pull: %q, want %q", c, s.wantFirst)
				}
				if n := rows(); n != 30 {
					t.Fatalf("rows after the first pull: %d", n)
				}
				for i := 30; i < 35; i++ {
					insert(i, base.Add(time.Duration(i)*time.Minute))
				}
				// A run that reads the new rows but cannot write them fails: nothing is written
				// and the cursor stays.
				if db.Dialect() == store.Postgres {
					if _, err := db.Exec(ctx, `CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
						BEGIN IF NEW.name = '库表企业32' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$`); err != nil {
						t.Fatal(err)
					}
					if _, err := db.Exec(ctx, `CREATE TRIGGER test_refuse BEFORE INSERT ON ds_enterprise FOR EACH ROW EXECUTE FUNCTION test_refuse()`); err != nil {
						t.Fatal(err)
					}
				} else if _, err := db.Exec(ctx, `CREATE TRIGGER test_refuse BEFORE INSERT ON ds_enterprise
					WHEN NEW.name = '库表企业32' BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
					t.Fatal(err)
				}
				res, err = m.RunConnector(ctx, id, ScheduleScheduled, nil, nil)
				if err == nil || res == nil || res.Status != StatusFailed || !strings.Contains(res.Error, "refused by test") {
					t.Fatalf("pull with a failing write: %+v %v", res, err)
				}
				if c := cursor(); c != s.wantFirst {
					t.Fatalf("cursor moved by a failed run: %q, want %q", c, s.wantFirst)
				}
				if n := rows(); n != 30 {
					t.Fatalf("rows after the failed pull: %d", n)
				}
				if _, err := db.Exec(ctx, `DROP TRIGGER test_refuse`+map[bool]string{true: ` ON ds_enterprise`}[db.Dialect() == store.Postgres]); err != nil {
					t.Fatal(err)
				}
				// The next run reads the same five rows again, and only them.
				res, err = m.RunConnector(ctx, id, ScheduleScheduled, nil, nil)
				if err != nil || res.Status != StatusCommitted || res.Read != 5 || res.Upserted != 5 {
					t.Fatalf("incremental pull (cursor %q): %+v %v", s.wantFirst, res, err)
				}
				wantNext := strings.Replace(s.wantFirst, "08:29:00", "08:34:00", 1)
				if c := cursor(); c != wantNext {
					t.Fatalf("cursor after the incremental pull: %q, want %q", c, wantNext)
				}
				// Nothing new: nothing read, nothing written, the cursor stays.
				res, err = m.RunConnector(ctx, id, ScheduleScheduled, nil, nil)
				if err != nil || res.Status != StatusCommitted || res.Read != 0 || res.Upserted != 0 {
					t.Fatalf("nothing new: %+v %v", res, err)
				}
				if c := cursor(); c != wantNext {
					t.Fatalf("cursor after an empty pull: %q, want %q", c, wantNext)
				}
				if n := rows(); n != 35 {
					t.Errorf("rows: %d, want 35", n)
				}
				if n := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE connector_id = ? AND source_kind = 'sql_pull' AND status = 'committed'`, id); n != 3 {
					t.Errorf("committed runs: %d, want 3", n)
				}
				if n := count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE connector_id = ? AND status = 'failed'`, id); n != 1 {
					t.Errorf("failed runs: %d, want 1", n)
				}
			})
		})
	}
}

// TestConnectorSchedule: the dispatcher job runs a connector whose cron schedule is due, once.
func TestConnectorSchedule(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	m := newModule(t, db)
	api := &fakeAPI{}
	api.add(1, "2024-01-01")
	srv := httptest.NewServer(api)
	defer srv.Close()
	id, err := m.SaveConnector(ctx, httptest.NewRequest("POST", "/", nil), 0, ConnectorInput{Name: "每秒拉取", Dataset: "enterprise", Kind: ConnHTTPPull,
		Schedule: "* * * * * *", Config: ConnectorConfig{URL: srv.URL, RecordsPath: "data.items"}})
	if err != nil {
		t.Fatal(err)
	}
	s := jobs.New(db, jobs.Options{})
	m.RegisterJobs(s)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := s.Start(jctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	time.Sleep(1100 * time.Millisecond) // the connector's second has come
	if _, err := s.RunNow(ctx, "dataset.connectors", "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if count(t, db, `SELECT COUNT(*) FROM ds_ingest_runs WHERE connector_id = ? AND status = 'committed' AND schedule_type = 'scheduled'`, id) > 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("scheduled connector did not run")
}

// TestConnectorScheduleIsBeijingTime: "0 0 2 * * *" means 02:00 in Beijing (18:00 UTC the day
// before), like the cron expressions of every other job.
func TestConnectorScheduleIsBeijingTime(t *testing.T) {
	last := time.Date(2026, 1, 1, 17, 30, 0, 0, time.UTC) // 01:30 CST on 1-2
	for _, c := range []struct {
		now time.Time
		due bool
	}{
		{time.Date(2026, 1, 1, 17, 59, 0, 0, time.UTC), false}, // 01:59 CST
		{time.Date(2026, 1, 1, 18, 0, 30, 0, time.UTC), true},  // 02:00:30 CST
		{time.Date(2026, 1, 2, 1, 59, 0, 0, time.UTC), true},   // 09:59 CST: overdue, still due
	} {
		if got := connectorDue("0 0 2 * * *", last, c.now); got != c.due {
			t.Errorf("at %s: due %v, want %v", c.now, got, c.due)
		}
	}
	if connectorDue("bad cron", last, last.Add(time.Hour)) {
		t.Error("a bad spec is due")
	}
}
