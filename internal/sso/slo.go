package sso

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
)

// Single logout. When a zhsj session ends (logout, revocation, disable — iam's logout hook),
// every relying party that took part in it and the upstream platform that opened it are told:
//
//   - OIDC clients with a back-channel logout URI get a signed logout token naming the sid;
//   - CAS services get the SAML logoutRequest naming their service ticket;
//   - ticket-exchange partners get a signed notice naming their sessionId;
//   - a session opened through a connector ends upstream too (the connector's notice).
//
// Notices go through the sso_logout_queue table: they are sent at once and retried by the
// sso.logout.retry job until delivered, so a partner that is down still learns of it.

// maxLogoutAttempts bounds the retries of one notice (about a day with the backoff).
const maxLogoutAttempts = 10

type participantRow struct {
	ID       int64  `db:"id"`
	UserID   int64  `db:"user_id"`
	Protocol string `db:"protocol"`
	ClientID string `db:"client_id"`
	SID      string `db:"sid"`
	RefEnc   []byte `db:"ref_enc"`
	Service  string `db:"service"`
}

type inboundRow struct {
	SessionID   string `db:"session_id"`
	ConnectorID string `db:"connector_id"`
	UserID      int64  `db:"user_id"`
	UpstreamEnc []byte `db:"upstream_enc"`
}

// upstream is what an inbound session keeps of its partner session (sealed).
type upstream struct {
	Subject string `json:"sub"`
	Ref     string `json:"ref,omitempty"`
	Token   string `json:"token,omitempty"`
}

const purposeUpstream = "sso.upstream"

type notice struct {
	kind, target string
	n            *connector.Notice
}

// OnLogout is the iam logout hook: it queues and sends the single-logout notices of a
// session that has ended. It never fails the logout.
func (s *Service) OnLogout(ctx context.Context, uid int64, sessionID string) {
	s.forgetSessionRefresh(sessionID)
	ids, err := s.queueLogout(ctx, sessionID)
	if err != nil {
		s.log.ErrorContext(ctx, "单点退出通知入队失败", "session", sessionID[:min(16, len(sessionID))], "err", err)
		return
	}
	s.deliver(ctx, ids)
}

func (s *Service) queueLogout(ctx context.Context, sessionID string) ([]int64, error) {
	var parts []participantRow
	var inbound []inboundRow
	now := s.now()
	// First: end everything this session holds, in one transaction.
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Select(ctx, &parts, `SELECT id, user_id, protocol, client_id, sid, ref_enc, service FROM sso_participants
			WHERE session_id = ? AND ended_at IS NULL ORDER BY id`, sessionID); err != nil {
			return err
		}
		if err := tx.Select(ctx, &inbound, `SELECT session_id, connector_id, user_id, upstream_enc FROM sso_inbound_sessions
			WHERE session_id = ? AND ended_at IS NULL`, sessionID); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE sso_participants SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL`,
			`UPDATE sso_inbound_sessions SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL`,
			`UPDATE sso_tokens SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL`,
			`UPDATE sso_tickets SET used_at = ? WHERE session_id = ? AND used_at IS NULL`,
		} {
			if _, err := tx.Exec(ctx, q, now, sessionID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || (len(parts) == 0 && len(inbound) == 0) {
		return nil, err
	}
	// Then build the notices (an OIDC connector may need its partner's discovery document).
	var notices []notice
	seen := map[string]bool{}
	for _, pt := range parts {
		n, err := s.participantNotice(ctx, pt, seen)
		if err != nil {
			s.log.WarnContext(ctx, "单点退出通知无法生成", "client", pt.ClientID, "err", err)
			continue
		}
		if n != nil {
			notices = append(notices, notice{kind: pt.Protocol, target: pt.ClientID, n: n})
		}
	}
	for _, in := range inbound {
		n, err := s.upstreamNotice(ctx, in)
		if err != nil {
			s.log.WarnContext(ctx, "上游退出通知无法生成", "connector", in.ConnectorID, "err", err)
			continue
		}
		if n != nil {
			notices = append(notices, notice{kind: "upstream", target: in.ConnectorID, n: n})
		}
	}
	var ids []int64
	if len(notices) == 0 {
		return nil, nil
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, n := range notices {
			body := ""
			if n.n.Form != nil {
				body = n.n.Form.Encode()
			}
			id, err := store.InsertID(ctx, tx, `INSERT INTO sso_logout_queue (kind, target, url, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				n.kind, n.target, n.n.URL, body, now, now)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// participantNotice builds the notice for one relying party (nil when it asked for none).
func (s *Service) participantNotice(ctx context.Context, pt participantRow, seen map[string]bool) (*connector.Notice, error) {
	var c Client
	if err := s.db.Get(ctx, &c, `SELECT `+clientCols+` FROM sso_clients WHERE client_id = ? AND protocol = ?`, pt.ClientID, pt.Protocol); err != nil {
		return nil, nil // the client was removed
	}
	c.fill()
	if c.Status != "active" || !c.SingleLogout {
		return nil, nil
	}
	switch pt.Protocol {
	case ProtoOIDC:
		if c.BackchannelLogoutURI == "" || seen["oidc/"+c.ClientID] {
			return nil, nil
		}
		seen["oidc/"+c.ClientID] = true
		tok, err := s.logoutToken(ctx, pt.Service, c.ClientID, pt.UserID, pt.SID)
		if err != nil {
			return nil, err
		}
		return &connector.Notice{URL: c.BackchannelLogoutURI, Form: url.Values{"logout_token": {tok}}}, nil
	case ProtoCAS:
		st, err := s.keys.Open(purposeCASTicket, pt.RefEnc)
		if err != nil {
			return nil, err
		}
		return &connector.Notice{URL: pt.Service, Form: url.Values{"logoutRequest": {connector.LogoutRequest(accountOf(ctx, s.db, pt.UserID), string(st), s.now())}}}, nil
	case ProtoTicket:
		if c.LogoutURI == "" {
			return nil, nil
		}
		secret, err := s.ticketSecret(&c)
		if err != nil {
			return nil, err
		}
		ts := connector.Timestamp(s.now())
		sign, err := connector.Sign(c.SignAlg, secret, c.ClientID, pt.SID, ts)
		if err != nil {
			return nil, err
		}
		return &connector.Notice{URL: c.LogoutURI, Form: url.Values{"appId": {c.ClientID}, "sessionId": {pt.SID}, "timestamp": {ts}, "sign": {sign}}}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", pt.Protocol)
}

// upstreamNotice builds the notice that ends the partner session an inbound session came from.
func (s *Service) upstreamNotice(ctx context.Context, in inboundRow) (*connector.Notice, error) {
	conn, _, err := s.connector(ctx, in.ConnectorID, false)
	if err != nil {
		return nil, err
	}
	lc, ok := conn.(connector.LogoutConnector)
	if !ok || len(in.UpstreamEnc) == 0 {
		return nil, nil
	}
	b, err := s.keys.Open(purposeUpstream, in.UpstreamEnc)
	if err != nil {
		return nil, err
	}
	var up upstream
	if err := json.Unmarshal(b, &up); err != nil {
		return nil, err
	}
	return lc.LogoutNotice(ctx, connector.Session{Subject: up.Subject, SessionRef: up.Ref, Token: up.Token})
}

type queueRow struct {
	ID       int64  `db:"id"`
	Kind     string `db:"kind"`
	Target   string `db:"target"`
	URL      string `db:"url"`
	Body     string `db:"body"`
	Attempts int    `db:"attempts"`
}

// noticeClient sends notices without following redirects (an end_session endpoint answers
// with one once the session has ended).
func (s *Service) noticeClient() *http.Client {
	c := *s.opt.HTTPClient
	c.Timeout = 5 * time.Second
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// deliver sends the queued notices with the given ids, concurrently.
func (s *Service) deliver(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = "?", id
	}
	var rows []queueRow
	if err := s.db.Select(ctx, &rows, `SELECT id, kind, target, url, body, attempts FROM sso_logout_queue WHERE done_at IS NULL AND id IN (`+strings.Join(ph, ",")+`)`, args...); err != nil {
		s.log.ErrorContext(ctx, "读取退出通知失败", "err", err)
		return
	}
	s.send(ctx, rows)
}

func (s *Service) send(ctx context.Context, rows []queueRow) (ok, failed int) {
	client := s.noticeClient()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, q := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := postNotice(ctx, client, q)
			now := s.now()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				s.db.Exec(ctx, `UPDATE sso_logout_queue SET done_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`, now, q.ID)
				return
			}
			failed++
			backoff := time.Duration(1<<min(q.Attempts, 10)) * time.Minute
			s.db.Exec(ctx, `UPDATE sso_logout_queue SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`, now.Add(backoff), truncate(err.Error(), 500), q.ID)
			s.log.WarnContext(ctx, "单点退出通知发送失败，稍后重试", "kind", q.Kind, "target", q.Target, "err", err)
		}()
	}
	wg.Wait()
	return ok, failed
}

func postNotice(ctx context.Context, client *http.Client, q queueRow) error {
	var req *http.Request
	var err error
	if q.Body == "" {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, q.URL, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, q.URL, strings.NewReader(q.Body))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// RetryLogouts resends due notices (the sso.logout.retry job).
func (s *Service) RetryLogouts(ctx context.Context) (ok, failed int, err error) {
	var rows []queueRow
	if err := s.db.Select(ctx, &rows, `SELECT id, kind, target, url, body, attempts FROM sso_logout_queue
		WHERE done_at IS NULL AND next_at <= ? AND attempts < ? ORDER BY id LIMIT 200`, s.now(), maxLogoutAttempts); err != nil {
		return 0, 0, err
	}
	ok, failed = s.send(ctx, rows)
	return ok, failed, nil
}

// endSession ends one zhsj session on a partner's request (back-channel). A session that has
// already ended is left alone, which also stops logout notices from bouncing between
// platforms.
func (s *Service) endSession(ctx context.Context, r *http.Request, sessionID string, uid int64, detail string) bool {
	if !s.sessionLive(ctx, s.db, sessionID) {
		return false
	}
	var u struct {
		Account string `db:"account"`
		Region  string `db:"region_code"`
	}
	if err := s.db.Get(ctx, &u, `SELECT account, region_code FROM users WHERE id = ?`, uid); err != nil {
		return false
	}
	p := &iam.Principal{UserID: uid, Account: u.Account, Region: u.Region, SessionID: sessionID}
	s.record(ctx, s.db, r, audit.Entry{Kind: audit.KindLogin, ActorID: uid, Actor: u.Account, RegionCode: u.Region, Action: "sso.logout.backchannel",
		ObjectType: "session", ObjectID: sessionID[:16], Result: "success", Detail: "单点退出：" + detail})
	if err := s.iam.Logout(ctx, r, p); err != nil {
		s.log.ErrorContext(ctx, "单点退出失败", "err", err)
		return false
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
