// Package audit keeps the login and operation logs (DESIGN §5): append-only records chained
// with HMAC-SM3 so that any change, deletion or reordering is detected by Verify, pruning that
// keeps the chain verifiable, and the audit administrator's pages, API and exports.
package audit

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Kinds of records.
const (
	KindLogin     = "login"
	KindOperation = "operation"
)

// Results of the recorded action.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultDenied  = "denied"
	ResultLocked  = "locked"
)

// Entry is one thing to record.
type Entry struct {
	Kind                     string // "login" or "operation"
	ActorID                  int64  // 0 when unknown (e.g. a login with an unknown account)
	Actor                    string // account
	IP, UserAgent, RequestID string
	Action                   string // e.g. "auth.login", "iam.user.create", "audit.export"
	ObjectType               string
	ObjectID                 string
	Result                   string // "success" | "failure" | "denied" | "locked"
	Detail                   string // human-readable Chinese detail; callers never put secrets here
	RegionCode               string
	At                       time.Time // set by Record when zero
}

// Record is one stored row of audit_log.
type Record struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Kind       string    `json:"kind"`
	ActorID    *int64    `json:"actor_id,omitempty"`
	Actor      string    `json:"actor"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Action     string    `json:"action"`
	ObjectType string    `json:"object_type"`
	ObjectID   string    `json:"object_id"`
	Result     string    `json:"result"`
	Detail     string    `json:"detail"`
	RequestID  string    `json:"request_id"`
	RegionCode string    `json:"region_code"`
	PrevMAC    string    `json:"-"`
	MAC        string    `json:"-"`
}

// Log records and reads the audit log.
type Log struct {
	db   *store.DB
	keys gm.Keyring
	// Pages renders the audit pages; the application sets it before calling Routes.
	Pages *web.Pages

	maxExport int // MaxExport; lowered by tests
}

// New returns the audit log of db, chained under the keyring's audit key.
func New(db *store.DB, keys gm.Keyring) *Log {
	return &Log{db: db, keys: keys, maxExport: MaxExport}
}

// genesis is the prev_mac of the first record ever written.
var genesis = strings.Repeat("0", 64)

// Field length limits: they keep hostile input (a huge account name on the login form) from
// bloating the log. Longer values are cut.
const (
	maxShort  = 128
	maxUA     = 512
	maxDetail = 4000
)

// Record appends e inside q. When q is a *store.Tx the record commits or rolls back with the
// caller's change; when q is the *store.DB itself (or nil) it runs in its own transaction.
// Appends are serialized on the chain row, so call Record late in a long transaction, and
// never pass the *store.DB while the same goroutine holds a transaction (SQLite has one writer
// connection: that would wait for itself).
func (l *Log) Record(ctx context.Context, q store.Q, e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	if q == nil {
		q = l.db
	}
	if db, ok := q.(*store.DB); ok {
		return db.InTx(ctx, func(tx *store.Tx) error { return l.appendEntry(ctx, tx, e) })
	}
	return l.appendEntry(ctx, q, e)
}

func (e Entry) validate() error {
	if e.Kind != KindLogin && e.Kind != KindOperation {
		return fmt.Errorf("audit: unknown kind %q", e.Kind)
	}
	if e.Action == "" {
		return errors.New("audit: empty action")
	}
	if _, ok := resultLabels[e.Result]; !ok {
		return fmt.Errorf("audit: unknown result %q", e.Result)
	}
	return nil
}

// FromRequest fills IP, UserAgent, RequestID, Actor, ActorID and RegionCode from
// web.Info(r.Context()) where e leaves them empty. Without a request (the command line, jobs)
// it returns e as it is.
func FromRequest(r *http.Request, e Entry) Entry {
	if r == nil {
		return e
	}
	ri := web.Info(r.Context())
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&e.IP, ri.IP)
	fill(&e.UserAgent, ri.UserAgent)
	fill(&e.RequestID, ri.ID)
	fill(&e.Actor, ri.Actor)
	fill(&e.RegionCode, ri.Region)
	if e.ActorID == 0 {
		e.ActorID = ri.ActorID
	}
	return e
}

// chain is the single audit_chain row.
type chain struct {
	HeadID    int64  `db:"head_id"`
	HeadMAC   string `db:"head_mac"`
	AnchorID  int64  `db:"anchor_id"`
	AnchorMAC string `db:"anchor_mac"`
}

const chainCols = "SELECT head_id, head_mac, anchor_id, anchor_mac FROM audit_chain WHERE id = 1"

// lockChain reads the chain row inside a write transaction, creating it when missing. On
// PostgreSQL the row is locked until the transaction ends; on SQLite the single writer
// connection with BEGIN IMMEDIATE already serializes writers.
func lockChain(ctx context.Context, q store.Q) (chain, error) {
	sel := chainCols
	if q.Dialect() == store.Postgres {
		sel += " FOR UPDATE"
	}
	var c chain
	err := q.Get(ctx, &c, sel)
	if errors.Is(err, store.ErrNotFound) {
		_, err = q.Exec(ctx, `INSERT INTO audit_chain (id, head_id, head_mac, anchor_id, anchor_mac)
			VALUES (1, 0, ?, 0, ?) ON CONFLICT (id) DO NOTHING`, genesis, genesis)
		if err == nil {
			err = q.Get(ctx, &c, sel)
		}
	}
	if err != nil {
		return c, fmt.Errorf("audit: read chain: %w", err)
	}
	return c, nil
}

// readChain reads the chain row without locking; found is false when it does not exist.
func readChain(ctx context.Context, q store.Q) (c chain, found bool, err error) {
	err = q.Get(ctx, &c, chainCols)
	if errors.Is(err, store.ErrNotFound) {
		return c, false, nil
	}
	return c, err == nil, err
}

// appendEntry writes e as the record after the chain head and moves the head to it.
func (l *Log) appendEntry(ctx context.Context, q store.Q, e Entry) error {
	c, err := lockChain(ctx, q)
	if err != nil {
		return err
	}
	at := e.At
	if at.IsZero() {
		at = store.Now() // taken under the chain lock, so times follow ids
	}
	rec := Record{
		ID:         c.HeadID + 1,
		At:         at.UTC().Truncate(time.Millisecond),
		Kind:       e.Kind,
		Actor:      clean(e.Actor, maxShort),
		IP:         clean(e.IP, maxShort),
		UserAgent:  clean(e.UserAgent, maxUA),
		Action:     clean(e.Action, maxShort),
		ObjectType: clean(e.ObjectType, maxShort),
		ObjectID:   clean(e.ObjectID, maxShort),
		Result:     e.Result,
		Detail:     clean(e.Detail, maxDetail),
		RequestID:  clean(e.RequestID, maxShort),
		RegionCode: clean(e.RegionCode, maxShort),
		PrevMAC:    c.HeadMAC,
	}
	if e.ActorID != 0 {
		id := e.ActorID
		rec.ActorID = &id
	}
	rec.MAC = l.mac(&rec)
	_, err = q.Exec(ctx, `INSERT INTO audit_log (`+recordCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.ID, rec.At, rec.Kind, rec.ActorID, rec.Actor, rec.IP, rec.UserAgent, rec.Action,
		rec.ObjectType, rec.ObjectID, rec.Result, rec.Detail, rec.RequestID, rec.RegionCode,
		rec.PrevMAC, rec.MAC)
	if err != nil {
		return fmt.Errorf("audit: insert record %d: %w", rec.ID, err)
	}
	if _, err := q.Exec(ctx, "UPDATE audit_chain SET head_id = ?, head_mac = ? WHERE id = 1", rec.ID, rec.MAC); err != nil {
		return fmt.Errorf("audit: move head: %w", err)
	}
	return nil
}

// clean makes s storable on both databases (valid UTF-8, no NUL) and at most n runes long.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n])
	}
	return s
}

// mac returns hex(HMAC-SM3(prev_mac ‖ every column of r)) under the audit key. Each field is
// length-prefixed, so the encoding is unambiguous; actor_id is "null" or its decimal form and
// at is Unix milliseconds (UTC, millisecond precision).
func (l *Log) mac(r *Record) string {
	b := make([]byte, 0, 256+len(r.Detail)+len(r.UserAgent))
	b = append(b, "zhsj.audit.v1"...)
	field := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	actorID := "null"
	if r.ActorID != nil {
		actorID = strconv.FormatInt(*r.ActorID, 10)
	}
	field(r.PrevMAC)
	field(strconv.FormatInt(r.ID, 10))
	field(strconv.FormatInt(r.At.UnixMilli(), 10))
	field(r.Kind)
	field(actorID)
	field(r.Actor)
	field(r.IP)
	field(r.UserAgent)
	field(r.Action)
	field(r.ObjectType)
	field(r.ObjectID)
	field(r.Result)
	field(r.Detail)
	field(r.RequestID)
	field(r.RegionCode)
	return hex.EncodeToString(l.keys.MAC(gm.PurposeAudit, b))
}

// Partitions is how audit_log is partitioned on PostgreSQL: by month of its time (DESIGN §10).
var Partitions = store.TimePartitions{Table: "audit_log", Column: "at", Period: store.Month}

const recordCols = "id, at, kind, actor_id, actor, ip, user_agent, action, object_type, object_id, result, detail, request_id, region_code, prev_mac, mac"

// scanRecord scans one row selected with recordCols.
func scanRecord(rows *sql.Rows) (Record, error) {
	var r Record
	var actorID sql.NullInt64
	err := rows.Scan(&r.ID, &r.At, &r.Kind, &actorID, &r.Actor, &r.IP, &r.UserAgent, &r.Action,
		&r.ObjectType, &r.ObjectID, &r.Result, &r.Detail, &r.RequestID, &r.RegionCode, &r.PrevMAC, &r.MAC)
	if actorID.Valid {
		r.ActorID = &actorID.Int64
	}
	return r, err
}

var resultLabels = map[string]string{
	ResultSuccess: "成功",
	ResultFailure: "失败",
	ResultDenied:  "拒绝",
	ResultLocked:  "锁定",
}

// ResultLabel is the Chinese name of the result.
func (r Record) ResultLabel() string {
	if s, ok := resultLabels[r.Result]; ok {
		return s
	}
	return r.Result
}

// ResultClass is the tag colour of the result on pages.
func (r Record) ResultClass() string {
	switch r.Result {
	case ResultSuccess:
		return "ok"
	case ResultLocked:
		return "warn"
	}
	return "bad"
}

// ShortUA is the user agent cut for a table cell.
func (r Record) ShortUA() string {
	if utf8.RuneCountInString(r.UserAgent) <= 40 {
		return r.UserAgent
	}
	return string([]rune(r.UserAgent)[:40]) + "…"
}
