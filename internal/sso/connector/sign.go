package connector

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// Signature algorithms of the ticket exchange.
const (
	SignHMACSM3 = "hmac-sm3" // hex(HMAC-SM3(secret, appId+value+timestamp))
	SignSM3     = "sm3"      // hex(SM3(appId+value+timestamp+secret))
	SignMD5     = "md5"      // hex(MD5(appId+value+timestamp+secret)), for platforms that still use it
)

// SignAlgs lists the supported algorithms with their Chinese names.
var SignAlgs = map[string]string{
	SignHMACSM3: "HMAC-SM3（推荐）",
	SignSM3:     "SM3 摘要",
	SignMD5:     "MD5 摘要（仅兼容旧平台）",
}

// SignWindow is how far a signed request's timestamp may be from the receiver's clock.
const SignWindow = 5 * time.Minute

// Sign computes the signature of a ticket-exchange request: appID, the value it carries
// (ticket or sessionId) and the timestamp in milliseconds, under secret.
func Sign(alg, secret, appID, value, timestamp string) (string, error) {
	msg := appID + value + timestamp
	switch strings.ToLower(alg) {
	case SignHMACSM3:
		m := hmac.New(sm3.New, []byte(secret))
		m.Write([]byte(msg))
		return hex.EncodeToString(m.Sum(nil)), nil
	case SignSM3:
		s := sm3.Sum([]byte(msg + secret))
		return hex.EncodeToString(s[:]), nil
	case SignMD5:
		s := md5.Sum([]byte(msg + secret))
		return hex.EncodeToString(s[:]), nil
	}
	return "", fmt.Errorf("不支持的签名算法 %q（应为 hmac-sm3、sm3 或 md5）", alg)
}

// VerifySign checks a signature and the freshness of its timestamp (milliseconds).
func VerifySign(alg, secret, appID, value, timestamp, sign string, now time.Time) error {
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("时间戳无效")
	}
	if d := now.Sub(time.UnixMilli(ms)); d > SignWindow || d < -SignWindow {
		return fmt.Errorf("时间戳超出允许范围（±%d 分钟），请校准时钟", int(SignWindow.Minutes()))
	}
	want, err := Sign(alg, secret, appID, value, timestamp)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(sign))) != 1 {
		return fmt.Errorf("签名错误")
	}
	return nil
}

// Timestamp returns now in milliseconds as the ticket exchange carries it.
func Timestamp(now time.Time) string { return strconv.FormatInt(now.UnixMilli(), 10) }
