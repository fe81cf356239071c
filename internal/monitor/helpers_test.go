package monitor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/notify"
	"zhsj/internal/store"
)

// clock is a controllable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 9, 1, 2, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// receiver is a local webhook endpoint that keeps what it receives.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []webhookMsg
	got  chan webhookMsg
}

type webhookMsg struct {
	Title    string `json:"title"`
	Text     string `json:"text"`
	Severity string `json:"severity"`
	Link     string `json:"link"`
	At       time.Time
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{got: make(chan webhookMsg, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m webhookMsg
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		m.At = time.Now()
		rc.mu.Lock()
		rc.msgs = append(rc.msgs, m)
		rc.mu.Unlock()
		select {
		case rc.got <- m:
		default:
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

// await returns the first message received from now on whose title contains want.
func (rc *receiver) await(want string, deadline time.Time) (webhookMsg, bool) {
	for {
		select {
		case m := <-rc.got:
			if strings.Contains(m.Title, want) {
				return m, true
			}
		case <-time.After(time.Until(deadline)):
			return webhookMsg{}, false
		}
	}
}

func (rc *receiver) all() []webhookMsg {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]webhookMsg(nil), rc.msgs...)
}

// env is a service on a database with a notify hub and one webhook channel.
type env struct {
	s       *Service
	hub     *notify.Hub
	db      *store.DB
	clock   *clock
	rc      *receiver
	channel int64
}

func newEnv(t testing.TB, db *store.DB, c *clock) *env {
	t.Helper()
	now := store.Now
	if c != nil {
		now = c.Now
	}
	hub := notify.New(db, notify.Options{Now: now, PollInterval: 100 * time.Millisecond})
	rc := newReceiver(t)
	ch, err := hub.CreateChannel(context.Background(), notify.Channel{Name: "值班群", Kind: notify.KindWebhook, Enabled: true,
		Config: json.RawMessage(`{"url":"` + rc.URL + `","rate_per_minute":1000}`)})
	if err != nil {
		t.Fatal(err)
	}
	s := New(db, Options{Notify: hub, Now: now, BaseURL: "https://zhsj.example.gov.cn", HostInterval: -1})
	return &env{s: s, hub: hub, db: db, clock: c, rc: rc, channel: ch}
}

func (e *env) system(t *testing.T, code string) int64 {
	t.Helper()
	var id int64
	if err := e.db.Get(context.Background(), &id, `SELECT id FROM monitor_systems WHERE code = ?`, code); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) target(t *testing.T, tg Target) int64 {
	t.Helper()
	if tg.SystemID == 0 {
		tg.SystemID = e.system(t, "entity")
	}
	if tg.Kind == "" {
		tg.Kind, tg.Address = KindHTTP, "http://127.0.0.1:1/"
	}
	if tg.IntervalSeconds == 0 {
		tg.IntervalSeconds = 30
	}
	tg.Enabled = true
	var id int64
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = e.s.SaveTarget(context.Background(), tx, tg, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) rule(t *testing.T, r Rule) int64 {
	t.Helper()
	r.Enabled = true
	if r.Severity == "" {
		r.Severity = SevMajor
	}
	var id int64
	err := e.db.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		id, err = e.s.SaveRule(context.Background(), tx, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// result stores a probe result for the target at the clock's time.
func (e *env) result(t *testing.T, target int64, ok bool) {
	t.Helper()
	r := Result{TargetID: target, Started: e.clock.Now(), OK: ok, Latency: 20 * time.Millisecond}
	if !ok {
		r.Error = "连接被拒绝（端口未监听）"
	}
	if err := e.s.StoreResults(context.Background(), []Result{r}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) eval(t *testing.T) {
	t.Helper()
	if err := e.s.Evaluate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Get(context.Background(), &n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) deliveries(t *testing.T) []notify.Delivery {
	t.Helper()
	list, _, err := e.hub.Deliveries(context.Background(), notify.DeliveryFilter{Size: 500})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (e *env) disableSeededRules(t *testing.T) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), `UPDATE monitor_rules SET enabled = FALSE`); err != nil {
		t.Fatal(err)
	}
}
