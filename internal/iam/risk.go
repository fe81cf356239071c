package iam

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/events"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// RiskPolicy tunes abnormal-login detection; zero fields take the defaults. Locations are
// judged by network prefix: no maintained Go library ships an offline IP-to-region
// database (ip2region's Go binding needs its data file fetched separately), so an IPv4 /16
// (IPv6 /32) stands for a location and a /24 (/48) for a network.
type RiskPolicy struct {
	History       time.Duration // how far back "seen before" looks: 90 days
	UsualHourMin  int           // successful logins before the usual-hours rule applies: 10
	NightFrom     int           // night hours (Asia/Shanghai) flagged while history is short: 0 …
	NightTo       int           // … to 6 (exclusive)
	BurstFailures int           // failed attempts on one account within BurstWindow: 5
	BurstWindow   time.Duration // 15 min
	SprayAccounts int           // distinct accounts failing from one IP within SprayWindow: 5
	SprayWindow   time.Duration // 15 min
	TravelWindow  time.Duration // successful logins from two locations within: 30 min
}

func (p RiskPolicy) withDefaults() RiskPolicy {
	if p.History <= 0 {
		p.History = 90 * 24 * time.Hour
	}
	if p.UsualHourMin <= 0 {
		p.UsualHourMin = 10
	}
	if p.NightTo <= 0 {
		p.NightFrom, p.NightTo = 0, 6
	}
	if p.BurstFailures <= 0 {
		p.BurstFailures = 5
	}
	if p.BurstWindow <= 0 {
		p.BurstWindow = 15 * time.Minute
	}
	if p.SprayAccounts <= 0 {
		p.SprayAccounts = 5
	}
	if p.SprayWindow <= 0 {
		p.SprayWindow = 15 * time.Minute
	}
	if p.TravelWindow <= 0 {
		p.TravelWindow = 30 * time.Minute
	}
	return p
}

// Risk kinds.
const (
	RiskNewDevice        = "new_device"
	RiskNewNetwork       = "new_network"
	RiskUnusualHour      = "unusual_hour"
	RiskFailureBurst     = "failure_burst"
	RiskPasswordSpray    = "password_spray"
	RiskImpossibleTravel = "impossible_travel"
)

// RiskNames are the Chinese names of the risk kinds.
var RiskNames = map[string]string{
	RiskNewDevice:        "新设备登录",
	RiskNewNetwork:       "新网段登录",
	RiskUnusualHour:      "非惯常时段登录",
	RiskFailureBurst:     "连续登录失败",
	RiskPasswordSpray:    "口令喷洒（同一来源尝试多个账号）",
	RiskImpossibleTravel: "短时间内异地登录",
}

// RiskLevelNames are the Chinese names of the levels.
var RiskLevelNames = map[string]string{"low": "低", "medium": "中", "high": "高"}

// RiskStatusNames are the Chinese names of a risk's states.
var RiskStatusNames = map[string]string{"open": "待确认", "confirmed": "本人操作", "reported": "非本人操作", "closed": "已处置"}

// EventLoginRisk is published for every risk found: {"risk", "user", "kind", "ip"}.
const EventLoginRisk = "iam.login.risk"

// deviceCookie identifies a browser across logins (new-device detection); it carries no
// account and is sent only to this site.
const deviceCookie = "zhsj_device"

// purposeDevice keys the HMAC under which device ids are stored.
const purposeDevice = "iam.device"

// loginAttempt is one login attempt as the risk rules see it.
type loginAttempt struct {
	UserID  int64
	Account string
	Region  string
	Method  string // password | sms | oidc:… | cas:…
	Result  string // success | failure | locked | denied
	Device  string // HMAC of the device id; "" when the browser sent none
}

// deviceFor returns the browser's device id, or a new one (fresh) to be set with the session.
func deviceFor(r *http.Request) (id string, fresh bool) {
	if r != nil {
		if c, err := r.Cookie(deviceCookie); err == nil && len(c.Value) >= 16 && len(c.Value) <= 64 {
			return c.Value, false
		}
	}
	return gm.RandomToken(), true
}

func (s *Service) deviceHash(id string) string {
	if id == "" {
		return ""
	}
	return hex.EncodeToString(s.keys.MAC(purposeDevice, []byte(id)))[:32]
}

// requestDevice is the hash of the device cookie the request carries, or "".
func (s *Service) requestDevice(r *http.Request) string {
	if id, fresh := deviceFor(r); !fresh {
		return s.deviceHash(id)
	}
	return ""
}

// netPrefixes returns the network (/24, /48) and location (/16, /32) prefixes of ip.
func netPrefixes(ip string) (network, area string) {
	a := net.ParseIP(ip)
	if a == nil {
		return ip, ip
	}
	if v4 := a.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.0/24", v4[0], v4[1], v4[2]), fmt.Sprintf("%d.%d.0.0/16", v4[0], v4[1])
	}
	return a.Mask(net.CIDRMask(48, 128)).String() + "/48", a.Mask(net.CIDRMask(32, 128)).String() + "/32"
}

type foundRisk struct {
	Kind, Level, Detail string
	UserID              int64
}

// noteLogin stores the attempt and raises the risks it shows. A success passes its login
// transaction so that the risks and their events commit with the session; a failure passes
// nil. Errors are logged: they never change the outcome of a login.
func (s *Service) noteLogin(ctx context.Context, q store.Q, r *http.Request, a loginAttempt) {
	if q == nil {
		if err := s.db.InTx(ctx, func(tx *store.Tx) error { return s.evaluateLogin(ctx, tx, r, a) }); err != nil {
			s.logger().Error("记录登录事件失败", "account", a.Account, "err", err)
		}
		return
	}
	if err := s.evaluateLogin(ctx, q, r, a); err != nil {
		s.logger().Error("记录登录事件失败", "account", a.Account, "err", err)
	}
}

func (s *Service) evaluateLogin(ctx context.Context, q store.Q, r *http.Request, a loginAttempt) error {
	pol := s.Risk.withDefaults()
	now := s.now()
	ri := web.Info(ctx)
	ip := ri.IP
	network, area := netPrefixes(ip)
	ua := ""
	if r != nil {
		ua = truncate(r.UserAgent(), 300)
	}
	if a.Device == "" {
		a.Device = s.requestDevice(r)
	}
	var uidArg any
	if a.UserID != 0 {
		uidArg = a.UserID
	}
	if a.Method == "" {
		a.Method = "password"
	}
	eventID, err := store.InsertID(ctx, q, `INSERT INTO login_events(at, user_id, account, method, result, ip, net, area, device, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, now, uidArg, truncate(a.Account, 100), a.Method, a.Result, ip, network, area, a.Device, ua)
	if err != nil {
		return err
	}
	var found []foundRisk
	if a.Result == "success" && a.UserID != 0 {
		found, err = s.successRisks(ctx, q, pol, a, eventID, now, network, area, ua)
	} else {
		found, err = s.failureRisks(ctx, q, pol, a, now, ip)
	}
	if err != nil {
		return err
	}
	for _, f := range found {
		region := a.Region
		var uid any
		if f.UserID != 0 {
			uid = f.UserID
		} else {
			region = ProvinceCode
		}
		if region == "" {
			region = ProvinceCode
		}
		account := a.Account
		if f.UserID == 0 {
			account = ""
		}
		id, err := store.InsertID(ctx, q, `INSERT INTO login_risks(at, user_id, account, region_code, kind, level, ip, detail, login_event_id, status)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')`, now, uid, account, region, f.Kind, f.Level, ip, f.Detail, eventID)
		if err != nil {
			return err
		}
		if err := events.Publish(ctx, q, EventLoginRisk, map[string]any{"risk": id, "user": f.UserID, "kind": f.Kind, "ip": ip}); err != nil {
			return err
		}
	}
	return nil
}

type pastLogin struct {
	At     time.Time `db:"at"`
	Device string    `db:"device"`
	Net    string    `db:"net"`
	Area   string    `db:"area"`
	UA     string    `db:"user_agent"`
	IP     string    `db:"ip"`
}

func (s *Service) successRisks(ctx context.Context, q store.Q, pol RiskPolicy, a loginAttempt, eventID int64, now time.Time, network, area, ua string) ([]foundRisk, error) {
	var hist []pastLogin
	if err := q.Select(ctx, &hist, `SELECT at, device, net, area, user_agent, ip FROM login_events
		WHERE user_id = ? AND result = 'success' AND at >= ? AND id <> ? ORDER BY at DESC, id DESC LIMIT 2000`,
		a.UserID, now.Add(-pol.History), eventID); err != nil {
		return nil, err
	}
	var out []foundRisk
	add := func(kind, level, detail string) {
		out = append(out, foundRisk{Kind: kind, Level: level, Detail: detail, UserID: a.UserID})
	}
	hour := now.In(web.Shanghai()).Hour()
	if len(hist) == 0 {
		// A first login has nothing to compare with, except the clock.
		if hour >= pol.NightFrom && hour < pol.NightTo {
			add(RiskUnusualHour, "low", fmt.Sprintf("首次登录发生在深夜 %d 时", hour))
		}
		return out, nil
	}
	knownDevice, knownNet, knownPair := false, false, false
	for _, h := range hist {
		if a.Device != "" && h.Device == a.Device {
			knownDevice = true
		}
		if h.Net == network {
			knownNet = true
			if h.UA == ua {
				knownPair = true
			}
		}
	}
	// A browser whose device cookie was cleared (e.g. by a secure logout) but that comes
	// from a known network with the same browser is recognised, not flagged.
	if !knownDevice && !knownPair {
		add(RiskNewDevice, "medium", "从此前未登录过的设备或浏览器登录："+describeUA(ua))
	}
	if !knownNet {
		add(RiskNewNetwork, "low", "从此前未使用过的网段 "+network+" 登录")
	}
	if prev := hist[0]; now.Sub(prev.At) <= pol.TravelWindow && prev.Area != area {
		mins := int(now.Sub(prev.At).Minutes())
		add(RiskImpossibleTravel, "high", fmt.Sprintf("%d 分钟内先后从两个不同地区网段登录：%s（%s）→ %s", mins, prev.Area, prev.IP, area))
	}
	if len(hist) >= pol.UsualHourMin {
		usual := false
		for _, h := range hist {
			d := h.At.In(web.Shanghai()).Hour() - hour
			if d < 0 {
				d = -d
			}
			if d <= 1 || d >= 23 {
				usual = true
				break
			}
		}
		if !usual {
			add(RiskUnusualHour, "low", fmt.Sprintf("在 %d 时登录，近期 %d 次登录均不在此时段前后", hour, len(hist)))
		}
	} else if hour >= pol.NightFrom && hour < pol.NightTo {
		add(RiskUnusualHour, "low", fmt.Sprintf("在深夜 %d 时登录", hour))
	}
	return out, nil
}

func (s *Service) failureRisks(ctx context.Context, q store.Q, pol RiskPolicy, a loginAttempt, now time.Time, ip string) ([]foundRisk, error) {
	if a.Result != "failure" && a.Result != "locked" {
		return nil, nil
	}
	var out []foundRisk
	if a.UserID != 0 {
		var n, open int
		if err := q.Get(ctx, &n, `SELECT COUNT(*) FROM login_events WHERE user_id = ? AND result IN ('failure', 'locked') AND at > ?`,
			a.UserID, now.Add(-pol.BurstWindow)); err != nil {
			return nil, err
		}
		if err := q.Get(ctx, &open, `SELECT COUNT(*) FROM login_risks WHERE kind = ? AND user_id = ? AND at > ?`,
			RiskFailureBurst, a.UserID, now.Add(-pol.BurstWindow)); err != nil {
			return nil, err
		}
		if n >= pol.BurstFailures && open == 0 {
			out = append(out, foundRisk{Kind: RiskFailureBurst, Level: "medium", UserID: a.UserID,
				Detail: fmt.Sprintf("%d 分钟内登录失败 %d 次，可能有人在猜测口令", int(pol.BurstWindow.Minutes()), n)})
		}
	}
	if ip != "" {
		var accounts, open int
		if err := q.Get(ctx, &accounts, `SELECT COUNT(DISTINCT account) FROM login_events WHERE ip = ? AND result IN ('failure', 'locked') AND at > ?`,
			ip, now.Add(-pol.SprayWindow)); err != nil {
			return nil, err
		}
		if err := q.Get(ctx, &open, `SELECT COUNT(*) FROM login_risks WHERE kind = ? AND ip = ? AND at > ?`,
			RiskPasswordSpray, ip, now.Add(-pol.SprayWindow)); err != nil {
			return nil, err
		}
		if accounts >= pol.SprayAccounts && open == 0 {
			out = append(out, foundRisk{Kind: RiskPasswordSpray, Level: "high",
				Detail: fmt.Sprintf("来源 %s 在 %d 分钟内对 %d 个不同账号登录失败", ip, int(pol.SprayWindow.Minutes()), accounts)})
		}
	}
	return out, nil
}

// describeUA names the browser and system of a User-Agent in a few words.
func describeUA(ua string) string {
	if ua == "" {
		return "未知客户端"
	}
	browser := "其他浏览器"
	for _, b := range [][2]string{{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "程序客户端"}} {
		if containsFold(ua, b[0]) {
			browser = b[1]
			break
		}
	}
	osName := ""
	for _, o := range [][2]string{{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"}, {"Mac OS", "macOS"}, {"Linux", "Linux"}} {
		if containsFold(ua, o[0]) {
			osName = o[1]
			break
		}
	}
	if osName == "" {
		return browser
	}
	return browser + " / " + osName
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// LoginRisk is one stored finding.
type LoginRisk struct {
	ID        int64      `db:"id" json:"id"`
	At        time.Time  `db:"at" json:"at"`
	UserID    *int64     `db:"user_id" json:"user_id"`
	Account   string     `db:"account" json:"account"`
	Region    string     `db:"region_code" json:"region_code"`
	Kind      string     `db:"kind" json:"kind"`
	Level     string     `db:"level" json:"level"`
	IP        string     `db:"ip" json:"ip"`
	Detail    string     `db:"detail" json:"detail"`
	Status    string     `db:"status" json:"status"`
	HandledAt *time.Time `db:"handled_at" json:"handled_at"`
	Note      string     `db:"note" json:"note"`
	KindName  string     `db:"-" json:"kind_name"`
}

func fillRiskNames(list []LoginRisk) []LoginRisk {
	for i := range list {
		list[i].KindName = RiskNames[list[i].Kind]
	}
	return web.NonNil(list)
}

const riskSelect = `SELECT k.id, k.at, k.user_id, k.account, k.region_code, k.kind, k.level, k.ip, k.detail, k.status, k.handled_at, k.note FROM login_risks k`

// MyRisks returns the caller's own login risks, newest first (openOnly: still unconfirmed).
func (s *Service) MyRisks(ctx context.Context, p *Principal, openOnly bool, limit int) ([]LoginRisk, error) {
	var out []LoginRisk
	cond := ""
	if openOnly {
		cond = ` AND k.status = 'open'`
	}
	err := s.db.Select(ctx, &out, riskSelect+` WHERE k.user_id = ?`+cond+` ORDER BY k.at DESC, k.id DESC LIMIT ?`, p.UserID, limit)
	return fillRiskNames(out), err
}

// RiskFilter narrows the administrator's list.
type RiskFilter struct {
	Kind, Status, Account string
}

// riskCols scope risks by the region of the account (IP-level findings are provincial).
var riskCols = Cols{Region: "k.region_code", Owner: "k.user_id"}

// ListRisks returns risks in the administrator's scope.
func (s *Service) ListRisks(ctx context.Context, p *Principal, f RiskFilter, pg web.Page) (web.List[LoginRisk], error) {
	where, args := p.Filter(riskCols)
	if f.Kind != "" {
		where += ` AND k.kind = ?`
		args = append(args, f.Kind)
	}
	if f.Status != "" {
		where += ` AND k.status = ?`
		args = append(args, f.Status)
	}
	if f.Account != "" {
		where += ` AND k.account = ?`
		args = append(args, f.Account)
	}
	out := web.List[LoginRisk]{Page: pg.Page, Size: pg.Size, Items: []LoginRisk{}}
	if err := s.db.Get(ctx, &out.Total, `SELECT COUNT(*) FROM login_risks k WHERE `+where, args...); err != nil {
		return out, err
	}
	err := s.db.Select(ctx, &out.Items, riskSelect+` WHERE `+where+` ORDER BY k.at DESC, k.id DESC LIMIT ? OFFSET ?`, append(args, pg.Size, pg.Offset())...)
	out.Items = fillRiskNames(out.Items)
	return out, err
}

// AnswerRisk records the user's answer to one of their own risks: it was them, or it was
// not — then every other session of the account ends at once and a password change is
// advised.
func (s *Service) AnswerRisk(ctx context.Context, r *http.Request, p *Principal, id int64, mine bool) (ended int64, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		status, detail := "confirmed", "确认登录异常为本人操作"
		if !mine {
			status, detail = "reported", "报告登录异常非本人操作，结束其他会话"
		}
		res, err := tx.Exec(ctx, `UPDATE login_risks SET status = ?, handled_by = ?, handled_at = ? WHERE id = ? AND user_id = ? AND status = 'open'`,
			status, p.UserID, s.now(), id, p.UserID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return web.ErrNotFound
		}
		if !mine {
			var sids []string
			if err := tx.Select(ctx, &sids, `SELECT id FROM sessions WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`, p.UserID, p.SessionID); err != nil {
				return err
			}
			if ended, err = s.revokeSessionsTx(ctx, tx, p.UserID, sids, "risk_reported"); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.risk.answer", ObjectType: "login_risk", ObjectID: idStr(id), Result: "success", Detail: detail})
	})
	return ended, err
}

// CloseRisk marks a risk in the administrator's scope as handled.
func (s *Service) CloseRisk(ctx context.Context, r *http.Request, p *Principal, id int64, note string) error {
	where, args := p.Filter(riskCols)
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var k LoginRisk
		err := tx.Get(ctx, &k, riskSelect+` WHERE k.id = ? AND `+where, append([]any{id}, args...)...)
		if errors.Is(err, store.ErrNotFound) {
			return web.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE login_risks SET status = 'closed', handled_by = ?, handled_at = ?, note = ? WHERE id = ?`,
			p.UserID, s.now(), truncate(note, 500), id); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.risk.close", ObjectType: "login_risk", ObjectID: idStr(id), Result: "success", RegionCode: k.Region,
			Detail: fmt.Sprintf("处置登录风险（%s，账号 %s）：%s", RiskNames[k.Kind], k.Account, truncate(note, 200))})
	})
}

// NotifyRisk forwards a risk to the configured notification channel (the subscriber of
// iam.login.risk). Idempotent: the message is deduplicated by the risk id.
func (s *Service) NotifyRisk(ctx context.Context, riskID int64) error {
	if s.Notify == nil {
		return nil
	}
	st, err := s.SecuritySettings(ctx)
	if err != nil || st.RiskChannel == 0 {
		return err
	}
	var k LoginRisk
	if err := s.db.Get(ctx, &k, riskSelect+` WHERE k.id = ?`, riskID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	who := k.Account
	if who == "" {
		who = "（多个账号）"
	}
	sev := "warning"
	if k.Level == "high" {
		sev = "critical"
	}
	text := fmt.Sprintf("账号：%s\n类型：%s（风险%s）\n来源：%s\n时间：%s\n说明：%s", who, RiskNames[k.Kind], RiskLevelNames[k.Level], k.IP,
		k.At.In(web.Shanghai()).Format("2006-01-02 15:04:05"), k.Detail)
	return s.Notify(ctx, s.db, st.RiskChannel, "登录异常："+RiskNames[k.Kind], text, sev, fmt.Sprintf("iam-risk-%d", k.ID))
}
