package sso

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"zhsj/internal/store"
)

// The token endpoint's refresh grant and ticket redemption are the busiest protocol paths:
// every relying party refreshes every few minutes, and every CAS login redeems a ticket.
// Three things keep them fast:
//
//   - their statements are prepared once on the writer (SQLite otherwise spends a large
//     share of each request parsing SQL);
//   - on SQLite, which has one writer, concurrent redemptions share one transaction (group
//     commit): the first waiting request runs the transaction for all that queued meanwhile;
//   - a refresh token issued by this instance is remembered, so presenting it needs no read.
//     The cache is only a shortcut: consuming the token is a conditional UPDATE on the
//     database, which alone decides, on every instance.
type hotPath struct {
	once          sync.Once
	err           error
	consumeRT     *sql.Stmt
	insertToken   *sql.Stmt
	consumeTicket *sql.Stmt

	mu      sync.Mutex
	queue   []*hotOp
	running bool

	rtMu    sync.Mutex
	rtCache map[string]tokenRow // refresh token hash → row, for tokens issued here
}

// hotOp is one unit of work in a shared transaction.
type hotOp struct {
	run  func(ctx context.Context, tx *sql.Tx) error
	done chan error
	lead chan struct{} // this caller is to run the next transaction
}

// maxBatch bounds how many operations one transaction carries.
const maxBatch = 64

func (s *Service) hotStmts(ctx context.Context) (*hotPath, error) {
	h := &s.hot
	h.once.Do(func() {
		w, d := s.db.Writer(), s.db.Dialect()
		prep := func(q string) *sql.Stmt {
			if h.err != nil {
				return nil
			}
			st, err := w.PrepareContext(context.WithoutCancel(ctx), d.Rebind(q))
			h.err = err
			return st
		}
		h.consumeRT = prep(`UPDATE sso_tokens SET revoked_at = ? WHERE token_hash = ? AND kind = 'refresh' AND revoked_at IS NULL AND expires_at > ?
			RETURNING family, expires_at`)
		h.insertToken = prep(insertTokens + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		h.consumeTicket = prep(`UPDATE sso_tickets SET used_at = ? WHERE ticket_hash = ? AND kind = ? AND used_at IS NULL
			RETURNING client_id, service, user_id, session_id, participant, fresh, created_at, expires_at`)
		h.rtCache = map[string]tokenRow{}
	})
	return h, h.err
}

// inTx runs op in a write transaction. On SQLite concurrent callers share one transaction;
// op must not fail for ordinary reasons (a spent token is a result, not an error), since an
// error rolls back the whole group.
func (s *Service) inTx(ctx context.Context, op func(ctx context.Context, tx *sql.Tx) error) error {
	h, err := s.hotStmts(ctx)
	if err != nil {
		return err
	}
	if s.db.Dialect() != store.SQLite {
		return s.runTx(ctx, []*hotOp{{run: op}})
	}
	me := &hotOp{run: op, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	h.mu.Lock()
	h.queue = append(h.queue, me)
	if !h.running {
		h.running = true
		me.lead <- struct{}{}
	}
	h.mu.Unlock()
	select {
	case err := <-me.done:
		return err // ran in another caller's transaction
	case <-me.lead:
	}
	// Leader: this caller is at the head of the queue. It runs one transaction for the
	// queue's head (its own operation first) and hands the lead to the next waiting caller.
	h.mu.Lock()
	n := min(len(h.queue), maxBatch)
	batch := append([]*hotOp(nil), h.queue[:n]...)
	h.queue = h.queue[n:]
	h.mu.Unlock()
	err = s.runTx(context.WithoutCancel(ctx), batch)
	for _, o := range batch {
		o.done <- err
	}
	h.mu.Lock()
	if len(h.queue) > 0 {
		h.queue[0].lead <- struct{}{}
	} else {
		h.running = false
	}
	h.mu.Unlock()
	return <-me.done
}

func (s *Service) runTx(ctx context.Context, ops []*hotOp) error {
	tx, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, o := range ops {
		if err := o.run(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// storeTokens stores a refresh token. With a current refresh token, that token is consumed
// first (a concurrent second use finds it revoked and fails) and the new one joins its family
// and keeps its expiry; build returns the row's values for the family and its expiry.
func (s *Service) storeTokens(ctx context.Context, current, family string, familyExp time.Time, build func(family string, exp time.Time) []any) error {
	h, err := s.hotStmts(ctx)
	if err != nil {
		return err
	}
	spent := false
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		fam, exp := family, familyExp
		if current != "" {
			now := s.now()
			err := tx.StmtContext(ctx, h.consumeRT).QueryRowContext(ctx, now, hashToken(current), now).Scan(&fam, &exp)
			if errors.Is(err, sql.ErrNoRows) {
				spent = true
				return nil
			}
			if err != nil {
				return err
			}
		}
		_, err := tx.StmtContext(ctx, h.insertToken).ExecContext(ctx, build(fam, exp.UTC())...)
		return err
	})
	if err != nil {
		return err
	}
	if spent {
		// A rotated token presented again (possibly passing another instance's cache) is
		// theft or a replay: its whole family is revoked, as TokenRequestByRefreshToken does.
		if _, err := s.db.Exec(ctx, `UPDATE sso_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family IN
			(SELECT family FROM sso_tokens WHERE token_hash = ? AND kind = 'refresh' AND revoked_at IS NOT NULL)`, s.now(), hashToken(current)); err != nil {
			return err
		}
		return oidc.ErrInvalidGrant().WithDescription("refresh token already used or expired")
	}
	if current != "" {
		h.rtMu.Lock()
		delete(h.rtCache, hashToken(current))
		h.rtMu.Unlock()
	}
	return nil
}

// rememberRefresh keeps a refresh token issued here (bounded; the oldest entries go first).
func (s *Service) rememberRefresh(hash string, row tokenRow) {
	h := &s.hot
	h.rtMu.Lock()
	defer h.rtMu.Unlock()
	if h.rtCache == nil {
		return
	}
	if len(h.rtCache) >= 100000 {
		for k := range h.rtCache {
			delete(h.rtCache, k)
			if len(h.rtCache) < 90000 {
				break
			}
		}
	}
	h.rtCache[hash] = row
}

func (s *Service) cachedRefresh(hash string) (tokenRow, bool) {
	h := &s.hot
	h.rtMu.Lock()
	defer h.rtMu.Unlock()
	row, ok := h.rtCache[hash]
	return row, ok
}

// forgetSessionRefresh drops the cached refresh tokens of a session that ended here.
func (s *Service) forgetSessionRefresh(sessionID string) {
	h := &s.hot
	h.rtMu.Lock()
	defer h.rtMu.Unlock()
	for k, row := range h.rtCache {
		if row.SessionID == sessionID {
			delete(h.rtCache, k)
		}
	}
}

// redeemTicket marks a ticket used and returns it; a ticket already used or unknown gives
// errTicketUnknown.
func (s *Service) redeemTicket(ctx context.Context, kind, ticket string, now time.Time) (*ticketRow, error) {
	h, err := s.hotStmts(ctx)
	if err != nil {
		return nil, err
	}
	var r ticketRow
	found := false
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.StmtContext(ctx, h.consumeTicket).QueryRowContext(ctx, now, hashToken(ticket), kind).Scan(&r.ClientID, &r.Service, &r.UserID,
			&r.SessionID, &r.Participant, &r.Fresh, &r.CreatedAt, &r.ExpiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errTicketUnknown
	}
	return &r, nil
}
