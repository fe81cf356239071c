package iam

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/iam/sms"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// SMSLimits bound SMS login codes (reference/identity-and-crypto.md §5.2); zero fields take
// the defaults.
type SMSLimits struct {
	TTL         time.Duration // validity of a code: 5 min
	Interval    time.Duration // between two codes for one phone: 1 min
	PerDay      int           // codes per phone in 24 h: 10
	PerIPHour   int           // codes requested from one source IP in an hour: 20
	MaxAttempts int           // verify attempts per code: 5
}

func (l SMSLimits) withDefaults() SMSLimits {
	if l.TTL <= 0 {
		l.TTL = 5 * time.Minute
	}
	if l.Interval <= 0 {
		l.Interval = time.Minute
	}
	if l.PerDay <= 0 {
		l.PerDay = 10
	}
	if l.PerIPHour <= 0 {
		l.PerIPHour = 20
	}
	if l.MaxAttempts <= 0 {
		l.MaxAttempts = 5
	}
	return l
}

// purposeSMSCode keys the HMAC-SM3 under which codes are stored.
const purposeSMSCode = "iam.sms.code"

// SMS login errors. None of them tells whether the phone number belongs to an account.
var (
	ErrSMSCode     = web.Errorf(http.StatusUnauthorized, "sms_code_invalid", "验证码错误或已失效，请重新获取")
	errSMSDisabled = web.Errorf(http.StatusBadRequest, "sms_disabled", "未启用短信验证码登录，请使用账号口令登录")
	errSMSTooSoon  = web.Errorf(http.StatusTooManyRequests, "sms_too_soon", "获取验证码过于频繁，请 1 分钟后再试")
	errSMSDaily    = web.Errorf(http.StatusTooManyRequests, "sms_daily_limit", "该手机号 24 小时内获取验证码次数已达上限，请稍后再试或使用账号口令登录")
	errSMSIP       = web.Errorf(http.StatusTooManyRequests, "sms_ip_limit", "当前网络获取验证码过于频繁，请稍后再试")
	errBadPhone    = web.Errorf(http.StatusBadRequest, "bad_phone", "请输入 11 位手机号")
	errBadCode     = web.Errorf(http.StatusBadRequest, "bad_code", "请输入 6 位数字验证码")
	errSMSShared   = web.Errorf(http.StatusConflict, "sms_ambiguous", "该手机号登记在多个账号上，无法确定登录哪个账号，请使用账号和口令登录")
)

func (s *Service) smsCodeHash(phoneIdx, code string) string {
	return hex.EncodeToString(s.keys.MAC(purposeSMSCode, []byte(phoneIdx+"|"+code)))
}

// randomCode returns six uniformly random digits.
func randomCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// SendLoginCode issues a login code for phone. The answer is the same whether or not an
// active account has this phone: a code row is written in both cases and the limits count
// it, but the message is only sent — in the background, so that timing tells nothing —
// when there is an account.
func (s *Service) SendLoginCode(ctx context.Context, r *http.Request, phone string) error {
	lim := s.SMSLimits.withDefaults()
	phone = strings.TrimSpace(phone)
	if !phoneRe.MatchString(phone) {
		return errBadPhone
	}
	ip := web.Info(ctx).IP
	deny := func(detail string, err error) error {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", Actor: maskPhone(phone), Action: "auth.sms.send", Result: "denied", Detail: detail})
		return err
	}
	if ip != "" && !s.loginIP.Allow(ip) {
		return deny("来源 IP 请求频率超限", ErrRateLimited)
	}
	gw, cfg, err := s.smsGateway(ctx)
	if errors.Is(err, sms.ErrDisabled) {
		return errSMSDisabled
	}
	if err != nil {
		return err
	}
	idx := gm.BlindIndex(s.keys, gm.PurposePhone, phone)
	code := randomCode()
	now := s.now()
	var codeID, uid int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if ip != "" {
			var n int
			if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM sms_codes WHERE ip = ? AND created_at > ?`, ip, now.Add(-time.Hour)); err != nil {
				return err
			}
			if n >= lim.PerIPHour {
				return errSMSIP
			}
		}
		// One conditional upsert decides the once-a-minute gate, also under parallel requests.
		res, err := tx.Exec(ctx, `INSERT INTO sms_gate(phone_idx, last_sent_at) VALUES (?, ?)
			ON CONFLICT (phone_idx) DO UPDATE SET last_sent_at = excluded.last_sent_at WHERE sms_gate.last_sent_at <= ?`,
			idx, now, now.Add(-lim.Interval))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errSMSTooSoon
		}
		var day int
		if err := tx.Get(ctx, &day, `SELECT COUNT(*) FROM sms_codes WHERE phone_idx = ? AND created_at > ?`, idx, now.Add(-24*time.Hour)); err != nil {
			return err
		}
		if day >= lim.PerDay {
			return errSMSDaily
		}
		var users []struct {
			ID     int64  `db:"id"`
			Region string `db:"region_code"`
		}
		if err := tx.Select(ctx, &users, `SELECT id, region_code FROM users WHERE phone_idx = ? AND status = 'active' ORDER BY id`, idx); err != nil {
			return err
		}
		status, region, detail := "none", "", "请求短信登录验证码（手机号未登记或账号已停用，未发送）"
		var userArg any
		if len(users) > 0 {
			uid, region, status, userArg = users[0].ID, users[0].Region, "queued", users[0].ID
			detail = "请求短信登录验证码"
		}
		codeID, err = store.InsertID(ctx, tx, `INSERT INTO sms_codes(phone_idx, purpose, code_hash, user_id, ip, created_at, expires_at, send_status)
			VALUES (?, 'login', ?, ?, ?, ?, ?, ?)`, idx, s.smsCodeHash(idx, code), userArg, ip, now, now.Add(lim.TTL), status)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Kind: "login", ActorID: uid, Actor: maskPhone(phone), Action: "auth.sms.send", Result: "success",
			Detail: detail, RegionCode: region, ObjectType: "user", ObjectID: idStr(uid)})
	})
	var we *web.Error
	if errors.As(err, &we) && we.Status == http.StatusTooManyRequests {
		return deny(we.Message, err)
	}
	if err != nil {
		return err
	}
	if uid != 0 {
		go s.deliverCode(context.WithoutCancel(ctx), gw, cfg, codeID, phone, code, lim.TTL)
	}
	return nil
}

func (s *Service) deliverCode(ctx context.Context, gw sms.Gateway, cfg sms.Config, id int64, phone, code string, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tpl := cfg.Template
	if tpl == "" {
		tpl = "login"
	}
	status := "sent"
	if err := gw.Send(ctx, phone, tpl, map[string]string{"code": code, "minutes": strconv.Itoa(int(ttl.Minutes()))}); err != nil {
		status = "failed"
		s.logger().Error("短信验证码发送失败", "phone", maskPhone(phone), "code_id", id, "err", err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE sms_codes SET send_status = ? WHERE id = ?`, status, id); err != nil {
		s.logger().Error("记录短信发送结果失败", "code_id", id, "err", err)
	}
}

// LoginBySMS checks a code and opens a session for the phone's account. A code is used at
// most once and allows at most MaxAttempts guesses; every failure answers the same.
func (s *Service) LoginBySMS(ctx context.Context, r *http.Request, phone, code string) (*LoginResult, error) {
	lim := s.SMSLimits.withDefaults()
	phone, code = strings.TrimSpace(phone), strings.TrimSpace(code)
	if !phoneRe.MatchString(phone) {
		return nil, errBadPhone
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return nil, errBadCode
	}
	ip := web.Info(ctx).IP
	if ip != "" && !s.loginIP.Allow(ip) {
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", Actor: maskPhone(phone), Action: "auth.login", Result: "denied", Detail: "短信登录：来源 IP 登录频率超限"})
		return nil, ErrRateLimited
	}
	idx := gm.BlindIndex(s.keys, gm.PurposePhone, phone)
	var row struct {
		ID       int64     `db:"id"`
		Hash     string    `db:"code_hash"`
		UserID   *int64    `db:"user_id"`
		Expires  time.Time `db:"expires_at"`
		Attempts int       `db:"attempts"`
	}
	var uid int64
	fail := func(detail string) (*LoginResult, error) {
		var region, account string
		if uid != 0 {
			s.db.Get(ctx, &region, `SELECT region_code FROM users WHERE id = ?`, uid)
			s.db.Get(ctx, &account, `SELECT account FROM users WHERE id = ?`, uid)
		}
		s.record(ctx, s.db, r, audit.Entry{Kind: "login", ActorID: uid, Actor: firstNonEmpty(account, maskPhone(phone)), Action: "auth.login", Result: "failure",
			Detail: "短信登录失败：" + detail, RegionCode: region, ObjectType: "user", ObjectID: idStr(uid)})
		s.noteLogin(ctx, nil, r, loginAttempt{UserID: uid, Account: firstNonEmpty(account, maskPhone(phone)), Region: region, Method: "sms", Result: "failure"})
		return nil, ErrSMSCode
	}
	err := s.db.Get(ctx, &row, `SELECT id, code_hash, user_id, expires_at, attempts FROM sms_codes
		WHERE phone_idx = ? AND purpose = 'login' AND used_at IS NULL ORDER BY id DESC LIMIT 1`, idx)
	if errors.Is(err, store.ErrNotFound) {
		return fail("没有有效的验证码")
	}
	if err != nil {
		return nil, err
	}
	if row.UserID != nil {
		uid = *row.UserID
	}
	now := s.now()
	if !row.Expires.After(now) {
		return fail("验证码已过期")
	}
	// The attempt is counted before the comparison, atomically.
	res, err := s.db.Exec(ctx, `UPDATE sms_codes SET attempts = attempts + 1 WHERE id = ? AND attempts < ? AND used_at IS NULL`, row.ID, lim.MaxAttempts)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fail("验证码尝试次数已用完")
	}
	if !hmac.Equal([]byte(s.smsCodeHash(idx, code)), []byte(row.Hash)) {
		return fail(fmt.Sprintf("验证码错误（第 %d 次）", row.Attempts+1))
	}
	if res, err = s.db.Exec(ctx, `UPDATE sms_codes SET used_at = ? WHERE id = ? AND used_at IS NULL`, now, row.ID); err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 || uid == 0 {
		return fail("验证码已被使用")
	}
	// The caller proved the phone; it must still name exactly one active account.
	var ids []int64
	if err := s.db.Select(ctx, &ids, `SELECT id FROM users WHERE phone_idx = ? AND status = 'active'`, idx); err != nil {
		return nil, err
	}
	if len(ids) > 1 {
		return nil, errSMSShared
	}
	if len(ids) == 0 || ids[0] != uid {
		return fail("手机号已不属于该账号或账号已停用")
	}
	return s.LoginAs(ctx, r, uid, "sms")
}
