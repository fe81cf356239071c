package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// DingTalkSign returns the base64 加签 value of a DingTalk robot for a timestamp in
// milliseconds: base64(HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret)). It goes into the
// URL query, URL-encoded, next to the timestamp.
func DingTalkSign(secret string, timestampMs int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMs, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// FeishuSign returns the signature of a Feishu custom bot for a timestamp in seconds:
// base64(HMAC-SHA256(key=timestamp+"\n"+secret, msg="")). It goes into the JSON body.
func FeishuSign(secret string, timestampSec int64) string {
	m := hmac.New(sha256.New, []byte(strconv.FormatInt(timestampSec, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Webhook signing: header X-Zhsj-Signature: t=<unix seconds>,v1=<hex HMAC over "<t>.<body>">.
const (
	SignatureHeader          = "X-Zhsj-Signature"
	SignatureAlgorithmHeader = "X-Zhsj-Signature-Algorithm"
	DeliveryHeader           = "X-Zhsj-Delivery"

	AlgHMACSHA256 = "hmac-sha256"
	AlgHMACSM3    = "hmac-sm3"
)

// DefaultTolerance is the replay window VerifyWebhook uses when given none.
const DefaultTolerance = 5 * time.Minute

// Webhook verification errors.
var (
	ErrSignatureMissing  = errors.New("缺少或无法解析签名头")
	ErrSignatureMismatch = errors.New("签名不匹配")
	ErrSignatureExpired  = errors.New("签名时间超出允许范围（可能是重放请求）")
)

func webhookHash(alg string) (func() hash.Hash, error) {
	switch alg {
	case AlgHMACSHA256, "", "sha256":
		return sha256.New, nil
	case AlgHMACSM3, "sm3":
		return sm3.New, nil
	}
	return nil, fmt.Errorf("不支持的签名算法 %q（可选 %s、%s）", alg, AlgHMACSHA256, AlgHMACSM3)
}

func webhookMAC(h func() hash.Hash, secret string, msg []byte) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write(msg)
	return m.Sum(nil)
}

func signedPayload(t int64, body []byte) []byte {
	return append([]byte(strconv.FormatInt(t, 10)+"."), body...)
}

// SignWebhook returns the X-Zhsj-Signature header value for body sent at t.
func SignWebhook(alg, secret string, t time.Time, body []byte) (string, error) {
	h, err := webhookHash(alg)
	if err != nil {
		return "", err
	}
	ts := t.Unix()
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(webhookMAC(h, secret, signedPayload(ts, body)))), nil
}

// VerifyWebhook checks an X-Zhsj-Signature header against body for receivers of zhsj
// webhooks. It accepts HMAC-SHA256 or HMAC-SM3 signatures (several v1 values are allowed, for
// secret rotation) and rejects a timestamp further than tolerance from now, which stops
// replays. tolerance <= 0 means DefaultTolerance.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts int64 = -1
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ErrSignatureMissing
			}
			ts = n
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return ErrSignatureMissing
	}
	msg := signedPayload(ts, body)
	want := [][]byte{webhookMAC(sha256.New, secret, msg), webhookMAC(sm3.New, secret, msg)}
	matched := false
	for _, s := range sigs {
		for _, w := range want {
			if hmac.Equal(s, w) {
				matched = true
			}
		}
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureExpired
	}
	return nil
}
