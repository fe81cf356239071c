package iam

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Several accounts in one browser (reference/mobile.md §5, identity-and-crypto.md §6.3).
//
// Every account the browser keeps has its own HttpOnly slot cookie zhsj_acct_<label> holding
// that account's session token, where label is the first 16 hex digits of the session id
// (the SM3 of the token), so a cookie whose name does not match its value is ignored. The
// active pointer is the ordinary session cookie (SessionCookie), which holds the active
// account's token: everything that authenticates a request — Require, the SSO endpoints —
// reads only that cookie, so a request always acts as exactly one account, and the single-
// account case is unchanged.
//
// Slot cookies are not an isolation boundary (same-origin script reaches all of them, and a
// cookie path would not help either); isolation comes from the server:
//   - only the active cookie authenticates; slot cookies are accepted solely by the switch
//     and remove endpoints, which check the session behind them;
//   - every page carries a CSRF token bound to its account's session; a state-changing request
//     from a page of account A after the browser switched to B is refused (account_switched),
//     and with several accounts kept, one without a token is refused too;
//   - authenticated responses are never cached (Cache-Control: no-store, Vary: Cookie);
//   - browser storage is namespaced per account (AccountNS), the active account's namespace
//     is in the readable zhsj_active cookie so that stale tabs notice a switch, and logging an
//     account out purges its namespace;
//   - switching never picks an account on its own: when the active account leaves, the
//     others stay logged in and the login page shows the picker.

// DefaultMaxAccounts is how many accounts one browser keeps logged in at once.
const DefaultMaxAccounts = 5

const (
	slotCookiePrefix = "zhsj_acct_"
	// activeCookie holds the storage namespace of the active account (not a secret), readable
	// by the pages' script so that tabs of another account see the switch.
	activeCookie = "zhsj_active"
	// ClearSiteData is sent when the last account leaves or on "log out everywhere".
	ClearSiteData = `"cache", "cookies", "storage"`
)

// Multi-account errors.
var (
	ErrTooManyAccounts = web.Errorf(http.StatusConflict, "too_many_accounts", "本浏览器已同时登录 %d 个账号，请先退出或移除一个再登录其他账号", DefaultMaxAccounts)
	errAccountSwitched = web.Errorf(http.StatusForbidden, "account_switched", "本页面属于另一个账号或该账号已退出（浏览器的当前账号已切换），请刷新页面后重试")
	errCSRFRequired    = web.Errorf(http.StatusForbidden, "csrf_required", "本浏览器登录了多个账号，请从页面上操作（请求缺少页面令牌），或刷新页面后重试")
	errNoSuchSlot      = web.Errorf(http.StatusNotFound, "account_not_saved", "该账号不在本浏览器的已登录账号中")
	errSlotExpired     = web.Errorf(http.StatusUnauthorized, "account_session_expired", "该账号的登录已失效，请重新登录")
)

func (s *Service) maxAccounts() int {
	if s.MaxAccounts >= 3 {
		return s.MaxAccounts
	}
	return DefaultMaxAccounts
}

// slot is one account token kept by the browser.
type slot struct {
	Label, Token, SID string
	HasSlot           bool // a slot cookie exists (false: only the active cookie)
}

func slotLabel(sid string) string { return sid[:16] }

// browserSlots returns the account tokens the browser keeps: every consistent slot cookie,
// plus the active session cookie when it has no slot (single-account clients, SSO logins by
// older code).
func browserSlots(r *http.Request) []slot {
	if r == nil {
		return nil
	}
	var out []slot
	seen := map[string]bool{}
	for _, c := range r.Cookies() {
		label, ok := strings.CutPrefix(c.Name, slotCookiePrefix)
		if !ok || len(label) != 16 || c.Value == "" {
			continue
		}
		sid := gm.SM3Hex(c.Value)
		if slotLabel(sid) != label || seen[sid] {
			continue
		}
		seen[sid] = true
		out = append(out, slot{Label: label, Token: c.Value, SID: sid, HasSlot: true})
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if sid := gm.SM3Hex(c.Value); !seen[sid] {
			out = append(out, slot{Label: slotLabel(sid), Token: c.Value, SID: sid})
		}
	}
	return out
}

// activeSID is the session id of the active cookie, or "".
func activeSID(r *http.Request) string {
	if r == nil {
		return ""
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return gm.SM3Hex(c.Value)
	}
	return ""
}

type slotSession struct {
	SID         string     `db:"id"`
	UserID      int64      `db:"user_id"`
	LastSeen    time.Time  `db:"last_seen_at"`
	ExpiresAt   time.Time  `db:"expires_at"`
	RevokedAt   *time.Time `db:"revoked_at"`
	Account     string     `db:"account"`
	Name        string     `db:"name"`
	Status      string     `db:"status"`
	UserExpires *time.Time `db:"user_expires"`
}

// live applies the same rules as Authenticate.
func (s *Service) live(ss slotSession) bool {
	now := s.now()
	return ss.RevokedAt == nil && ss.ExpiresAt.After(now) && ss.LastSeen.Add(s.opt.SessionIdle).After(now) &&
		ss.Status == "active" && (ss.UserExpires == nil || ss.UserExpires.After(now))
}

func (s *Service) slotSessions(ctx context.Context, q store.Q, slots []slot) (map[string]slotSession, error) {
	out := map[string]slotSession{}
	if len(slots) == 0 {
		return out, nil
	}
	args := make([]any, len(slots))
	for i, sl := range slots {
		args[i] = sl.SID
	}
	var rows []slotSession
	err := q.Select(ctx, &rows, `SELECT s.id, s.user_id, s.last_seen_at, s.expires_at, s.revoked_at, u.account, u.name, u.status, u.expires_at AS user_expires
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(slots)), ",")+`)`, args...)
	for _, row := range rows {
		out[row.SID] = row
	}
	return out, err
}

// SavedAccount is an account this browser keeps logged in.
type SavedAccount struct {
	Slot    string `json:"slot"`
	UserID  int64  `json:"user_id"`
	Account string `json:"account"`
	Name    string `json:"name"`
	Active  bool   `json:"active"`
}

// SavedAccounts lists the live accounts the browser of r keeps, the active one first. The
// SSO endpoints can use it to offer a picker (prompt=select_account) instead of choosing.
func (s *Service) SavedAccounts(ctx context.Context, r *http.Request) ([]SavedAccount, error) {
	slots := browserSlots(r)
	sess, err := s.slotSessions(ctx, s.db, slots)
	if err != nil {
		return nil, err
	}
	active := activeSID(r)
	out := []SavedAccount{}
	for _, sl := range slots {
		ss, ok := sess[sl.SID]
		if !ok || !s.live(ss) {
			continue
		}
		out = append(out, SavedAccount{Slot: sl.Label, UserID: ss.UserID, Account: ss.Account, Name: ss.Name, Active: sl.SID == active})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Active != out[j].Active {
			return out[i].Active
		}
		return out[i].Account < out[j].Account
	})
	return out, nil
}

// admitAccount runs inside the login transaction of user uid: a session this browser
// already keeps for the same user is replaced (revoked, its cookie cleared), dead slots are
// cleaned up, and the login is refused when the browser already keeps the maximum of other
// live accounts. It returns the slot labels whose cookies the response must clear.
func (s *Service) admitAccount(ctx context.Context, tx *store.Tx, r *http.Request, uid int64) ([]string, error) {
	slots := browserSlots(r)
	if len(slots) == 0 {
		return nil, nil
	}
	sess, err := s.slotSessions(ctx, tx, slots)
	if err != nil {
		return nil, err
	}
	var clear, same []string
	others := 0
	for _, sl := range slots {
		ss, ok := sess[sl.SID]
		switch {
		case !ok:
			// Not a session of this system (another deployment on the same host name, or
			// long pruned): not counted, left alone.
		case !s.live(ss):
			if sl.HasSlot {
				clear = append(clear, sl.Label)
			}
		case ss.UserID == uid:
			same = append(same, sl.SID)
			if sl.HasSlot {
				clear = append(clear, sl.Label)
			}
		default:
			others++
		}
	}
	if others >= s.maxAccounts() {
		return nil, web.Errorf(http.StatusConflict, ErrTooManyAccounts.Code, "本浏览器已同时登录 %d 个账号，请先退出或移除一个再登录其他账号", others)
	}
	if _, err := s.revokeSessionsTx(ctx, tx, uid, same, "relogin"); err != nil {
		return nil, err
	}
	return clear, nil
}

// revokeSessionsTx ends the given live sessions of user uid; logout hooks run after commit.
func (s *Service) revokeSessionsTx(ctx context.Context, tx *store.Tx, uid int64, sids []string, reason string) (int64, error) {
	var n int64
	var ended []string
	for _, sid := range sids {
		res, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, s.now(), reason, sid, uid)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n += k
			ended = append(ended, sid)
		}
	}
	if len(ended) > 0 && len(s.logoutHooks) > 0 {
		tx.AfterCommit(func() { s.runLogoutHooks(ctx, uid, ended) })
	}
	return n, nil
}

// AccountNS is the namespace of an account's keys in browser storage: stable per account,
// meaningless without the server key.
func (s *Service) AccountNS(uid int64) string {
	return hex.EncodeToString(s.keys.MAC("iam.storage", []byte(strconv.FormatInt(uid, 10))))[:12]
}

// CSRFToken is the token pages of a session send back with state-changing requests.
func (s *Service) CSRFToken(sid string) string {
	return hex.EncodeToString(s.keys.MAC(gm.PurposeSession+".csrf", []byte(sid)))[:32]
}

// checkCSRF binds a state-changing request authenticated by the session cookie to the
// account its page was rendered for (see the package comment above).
func (s *Service) checkCSRF(r *http.Request, p *Principal) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if p.TokenID != 0 || p.SessionID == "" {
		return nil
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("_csrf")
	}
	if got == "" {
		// Without a page token the request is accepted only while the browser keeps a
		// single live account: with several, it could come from a page of another one.
		if slots := browserSlots(r); len(slots) > 1 {
			sess, err := s.slotSessions(r.Context(), s.db, slots)
			if err != nil {
				return err
			}
			live := 0
			for _, ss := range sess {
				if s.live(ss) {
					live++
				}
			}
			if live > 1 {
				return errCSRFRequired
			}
		}
		return nil
	}
	if !hmac.Equal([]byte(got), []byte(s.CSRFToken(p.SessionID))) {
		return errAccountSwitched
	}
	return nil
}

// cookie builds a session-family cookie; on HTTPS the web stack marks it Secure.
func (s *Service) cookie(name, value string, expires time.Time, httpOnly bool) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: httpOnly, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

// setActive points the browser at an account: the session cookie and the readable
// namespace cookie.
func (s *Service) setActive(w http.ResponseWriter, token string, uid int64, expires time.Time) {
	http.SetCookie(w, s.cookie(SessionCookie, token, expires, true))
	http.SetCookie(w, s.cookie(activeCookie, s.AccountNS(uid), expires, false))
}

func (s *Service) clearActive(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(SessionCookie, "", time.Time{}, true))
	http.SetCookie(w, s.cookie(activeCookie, "", time.Time{}, false))
}

func (s *Service) clearSlot(w http.ResponseWriter, label string) {
	http.SetCookie(w, s.cookie(slotCookiePrefix+label, "", time.Time{}, true))
}

// BrowserLogout is the outcome of a logout for the response.
type BrowserLogout struct {
	OK        bool     `json:"ok"`
	Remaining int      `json:"remaining"` // accounts still logged in in this browser
	Purge     []string `json:"purge"`     // storage namespaces the page must clear
	Cleared   bool     `json:"cleared"`   // Clear-Site-Data was sent
	Message   string   `json:"message"`
}

// LogoutActive ends the active account in this browser: its server session (with logout
// hooks, so SSO relying parties learn of it), its cookies and its browser data. Other saved
// accounts stay logged in; when none is left, the browser is told to clear everything.
func (s *Service) LogoutActive(w http.ResponseWriter, r *http.Request, p *Principal) (BrowserLogout, error) {
	ctx := r.Context()
	if p.SessionID == "" {
		return BrowserLogout{}, web.Errorf(http.StatusBadRequest, "not_a_session", "使用 API 令牌的调用没有登录会话，无需退出；如需停用请吊销令牌")
	}
	if err := s.Logout(ctx, r, p); err != nil {
		return BrowserLogout{}, err
	}
	s.clearActive(w)
	s.clearSlot(w, slotLabel(p.SessionID))
	out := BrowserLogout{OK: true, Purge: []string{s.AccountNS(p.UserID)}}
	var rest []slot
	for _, sl := range browserSlots(r) {
		if sl.SID != p.SessionID {
			rest = append(rest, sl)
		}
	}
	sess, err := s.slotSessions(ctx, s.db, rest)
	if err != nil {
		return out, err
	}
	for _, sl := range rest {
		if ss, ok := sess[sl.SID]; ok && s.live(ss) {
			out.Remaining++
		}
	}
	s.finish(w, &out)
	return out, nil
}

// LogoutBrowser ends every account this browser keeps ("退出全部账号") and clears the site's
// data in the browser. Logout hooks run for each account's session.
func (s *Service) LogoutBrowser(w http.ResponseWriter, r *http.Request) (BrowserLogout, error) {
	ctx := r.Context()
	slots := browserSlots(r)
	sess, err := s.slotSessions(ctx, s.db, slots)
	if err != nil {
		return BrowserLogout{}, err
	}
	out := BrowserLogout{OK: true, Purge: []string{}}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, sl := range slots {
			ss, ok := sess[sl.SID]
			if !ok {
				continue
			}
			out.Purge = append(out.Purge, s.AccountNS(ss.UserID))
			if !s.live(ss) {
				continue
			}
			if _, err := s.revokeSessionsTx(ctx, tx, ss.UserID, []string{sl.SID}, "logout_all"); err != nil {
				return err
			}
			if err := s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: ss.UserID, Actor: ss.Account, Action: "auth.logout", Result: "success",
				Detail: "退出本浏览器中的全部账号", ObjectType: "user", ObjectID: idStr(ss.UserID)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	s.clearActive(w)
	for _, sl := range slots {
		if sl.HasSlot {
			s.clearSlot(w, sl.Label)
		}
	}
	s.finish(w, &out)
	return out, nil
}

// RemoveAccount ends one saved account of this browser, active or not, by its slot label.
func (s *Service) RemoveAccount(w http.ResponseWriter, r *http.Request, label string) (BrowserLogout, error) {
	ctx := r.Context()
	slots := browserSlots(r)
	var target *slot
	var rest []slot
	for i := range slots {
		if slots[i].Label == label {
			target = &slots[i]
		} else {
			rest = append(rest, slots[i])
		}
	}
	if target == nil {
		return BrowserLogout{}, errNoSuchSlot
	}
	sess, err := s.slotSessions(ctx, s.db, slots)
	if err != nil {
		return BrowserLogout{}, err
	}
	out := BrowserLogout{OK: true, Purge: []string{}}
	if ss, ok := sess[target.SID]; ok {
		out.Purge = append(out.Purge, s.AccountNS(ss.UserID))
		if s.live(ss) {
			err := s.db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := s.revokeSessionsTx(ctx, tx, ss.UserID, []string{target.SID}, "removed"); err != nil {
					return err
				}
				return s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: ss.UserID, Actor: ss.Account, Action: "auth.logout", Result: "success",
					Detail: "从本浏览器移除已登录的账号", ObjectType: "user", ObjectID: idStr(ss.UserID)})
			})
			if err != nil {
				return out, err
			}
		}
	}
	if target.HasSlot {
		s.clearSlot(w, target.Label)
	}
	if target.SID == activeSID(r) {
		s.clearActive(w)
	}
	for _, sl := range rest {
		if ss, ok := sess[sl.SID]; ok && s.live(ss) {
			out.Remaining++
		}
	}
	s.finish(w, &out)
	return out, nil
}

func (s *Service) finish(w http.ResponseWriter, out *BrowserLogout) {
	if out.Remaining == 0 {
		w.Header().Set("Clear-Site-Data", ClearSiteData)
		out.Cleared = true
		out.Message = "已安全退出，本浏览器中的登录信息和缓存已清除"
		return
	}
	out.Message = fmt.Sprintf("已退出；本浏览器中仍有 %d 个账号保持登录", out.Remaining)
}

// SwitchAccount makes a saved account the active one. The target's session must still be
// valid; nothing is chosen on the user's behalf.
func (s *Service) SwitchAccount(w http.ResponseWriter, r *http.Request, label string) (*SavedAccount, error) {
	ctx := r.Context()
	var target *slot
	for _, sl := range browserSlots(r) {
		if sl.Label == label {
			target = &sl
			break
		}
	}
	if target == nil {
		return nil, errNoSuchSlot
	}
	p, err := s.Authenticate(ctx, target.Token)
	if err != nil {
		if target.HasSlot {
			s.clearSlot(w, target.Label)
		}
		return nil, errSlotExpired
	}
	sess, err := s.slotSessions(ctx, s.db, []slot{*target})
	if err != nil {
		return nil, err
	}
	from := ""
	if prev := activeSID(r); prev != "" && prev != target.SID {
		if ps, err := s.slotSessions(ctx, s.db, []slot{{SID: prev}}); err == nil {
			from = ps[prev].Account
		}
	}
	s.setActive(w, target.Token, p.UserID, sess[target.SID].ExpiresAt)
	if !target.HasSlot {
		http.SetCookie(w, s.cookie(slotCookiePrefix+target.Label, target.Token, sess[target.SID].ExpiresAt, true))
	}
	detail := "切换到本浏览器中已登录的账号 " + p.Account
	if from != "" {
		detail = fmt.Sprintf("从账号 %s 切换到账号 %s（同一浏览器）", from, p.Account)
	}
	s.record(ctx, s.db, r, audit.Entry{Kind: "login", ActorID: p.UserID, Actor: p.Account, Action: "auth.switch", Result: "success",
		Detail: detail, RegionCode: p.Region, ObjectType: "user", ObjectID: idStr(p.UserID)})
	return &SavedAccount{Slot: target.Label, UserID: p.UserID, Account: p.Account, Name: p.Name, Active: true}, nil
}

// deniedByBrowser audits a login refused because the browser keeps too many accounts and
// passes every error through.
func (s *Service) deniedByBrowser(ctx context.Context, r *http.Request, uid int64, account, region, method string, err error) error {
	var we *web.Error
	if errors.As(err, &we) && we.Code == ErrTooManyAccounts.Code {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", ActorID: uid, Actor: account, Action: "auth.login", Result: "denied",
			Detail: method + "：" + we.Message, RegionCode: region, ObjectType: "user", ObjectID: idStr(uid)})
	}
	return err
}

// browserViewer is the page viewer of p with what the layout needs for several accounts:
// the session's CSRF token, the storage namespace and the other saved accounts.
func (s *Service) browserViewer(w http.ResponseWriter, r *http.Request, p *Principal) *web.Viewer {
	v := s.viewer(p)
	if p.SessionID == "" || web.WantsJSON(r) {
		return v // API calls render no page: keep them free of the extra work
	}
	v.CSRF = s.CSRFToken(p.SessionID)
	v.AccountNS = s.AccountNS(p.UserID)
	// The readable pointer follows the session cookie (it may be missing after an SSO login
	// by older code or a cleared cookie).
	if c, err := r.Cookie(activeCookie); err != nil || c.Value != v.AccountNS {
		http.SetCookie(w, s.cookie(activeCookie, v.AccountNS, time.Time{}, false))
	}
	v.Others = func() []web.OtherAccount {
		list, err := s.SavedAccounts(r.Context(), r)
		if err != nil {
			return nil
		}
		var out []web.OtherAccount
		for _, a := range list {
			if !a.Active && a.UserID != p.UserID {
				out = append(out, web.OtherAccount{Slot: a.Slot, Account: a.Account, Name: a.Name})
			}
		}
		return out
	}
	return v
}
