package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// Test vectors from reference/operations.md §1.3 (computed there with Python hmac/hashlib).
func TestDingTalkSignVector(t *testing.T) {
	got := DingTalkSign("SEC0123456789abcdef", 1700000000000)
	if got != "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=" {
		t.Fatalf("base64 sign = %s", got)
	}
	if enc := url.QueryEscape(got); enc != "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D" {
		t.Fatalf("url-encoded sign = %s", enc)
	}
	s := dingTalkSender{cfg: DingTalkConfig{Webhook: "https://oapi.dingtalk.com/robot/send?access_token=abc", Secret: "SEC0123456789abcdef"}}
	u := s.signedURL(time.UnixMilli(1700000000000))
	want := "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
	if u != want {
		t.Fatalf("signed url\n got %s\nwant %s", u, want)
	}
	// Without a secret the URL is left alone.
	s.cfg.Secret = ""
	if u := s.signedURL(time.Now()); u != s.cfg.Webhook {
		t.Fatalf("unsigned url changed: %s", u)
	}
}

func TestFeishuSignVector(t *testing.T) {
	if got := FeishuSign("demo-secret", 1700000000); got != "mYHw2R2SOm8Rw/sne3lQdmz4sOfntKR+1P/8RKKTwmA=" {
		t.Fatalf("feishu sign = %s", got)
	}
}

func TestWebhookSignVectors(t *testing.T) {
	body := []byte(`{"status":"firing"}`)
	// The reference's Grafana-style vector signs "<t>:<body>"; the primitive must match it.
	if got := hex.EncodeToString(webhookMAC(sha256.New, "whsecret", []byte("1700000000:"+string(body)))); got != "f1bd4202ae45eee1b4067ed0df78f9b2cbe23599ee356482ec1a9c6ca83cf2a3" {
		t.Fatalf("grafana-style vector = %s", got)
	}
	// Our header signs "<t>.<body>" (vectors computed with Python hmac, OpenSSL sm3).
	ts := time.Unix(1700000000, 0)
	sig, err := SignWebhook(AlgHMACSHA256, "whsecret", ts, body)
	if err != nil || sig != "t=1700000000,v1=a58472494942fe4e5e3cdaf7589df80af5c3f983fe530911024c771e0ac45a40" {
		t.Fatalf("sha256 header = %q (%v)", sig, err)
	}
	sig3, err := SignWebhook(AlgHMACSM3, "whsecret", ts, body)
	if err != nil || sig3 != "t=1700000000,v1=05fa40a120d621aba3da7aa840b8166b0a78d997a7ddef39d05ec7ff38a6f9f2" {
		t.Fatalf("sm3 header = %q (%v)", sig3, err)
	}
	if _, err := SignWebhook("md5", "k", ts, body); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
	if hex.EncodeToString(webhookMAC(sm3.New, "whsecret", []byte("1700000000."+string(body)))) != strings.TrimPrefix(sig3, "t=1700000000,v1=") {
		t.Fatal("sm3 mismatch")
	}
}

func TestVerifyWebhook(t *testing.T) {
	body := []byte(`{"title":"数据同步失败"}`)
	at := time.Unix(1700000000, 0)
	for _, alg := range []string{AlgHMACSHA256, AlgHMACSM3} {
		h, _ := SignWebhook(alg, "s3cret", at, body)
		cases := []struct {
			name   string
			secret string
			header string
			body   []byte
			now    time.Time
			want   error
		}{
			{"ok", "s3cret", h, body, at.Add(time.Minute), nil},
			{"ok early clock", "s3cret", h, body, at.Add(-time.Minute), nil},
			{"replay after tolerance", "s3cret", h, body, at.Add(6 * time.Minute), ErrSignatureExpired},
			{"from the future", "s3cret", h, body, at.Add(-6 * time.Minute), ErrSignatureExpired},
			{"tampered body", "s3cret", h, []byte(`{"title":"数据同步成功"}`), at, ErrSignatureMismatch},
			{"wrong secret", "other", h, body, at, ErrSignatureMismatch},
			{"moved timestamp", "s3cret", strings.Replace(h, "t=1700000000", "t=1700000300", 1), body, at.Add(5 * time.Minute), ErrSignatureMismatch},
			{"missing", "s3cret", "", body, at, ErrSignatureMissing},
			{"no v1", "s3cret", "t=1700000000", body, at, ErrSignatureMissing},
			{"bad t", "s3cret", "t=x,v1=00", body, at, ErrSignatureMissing},
			{"rotated secrets", "s3cret", h + ",v1=" + strings.Repeat("0", 64), body, at, nil},
		}
		for _, c := range cases {
			err := VerifyWebhook(c.secret, c.header, c.body, c.now, 5*time.Minute)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Errorf("%s/%s: got %v want %v", alg, c.name, err, c.want)
			}
		}
	}
	// Zero tolerance means the default five minutes.
	h, _ := SignWebhook(AlgHMACSHA256, "k", at, body)
	if err := VerifyWebhook("k", h, body, at.Add(4*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if err := VerifyWebhook("k", h, body, at.Add(DefaultTolerance+time.Second), 0); !errors.Is(err, ErrSignatureExpired) {
		t.Fatal(err)
	}
}
