package sms_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"zhsj/internal/iam/sms"
	"zhsj/internal/iam/sms/smstest"
)

// The worked example of Alibaba Cloud's "RPC signature" document (ECS DescribeRegions,
// AccessKeySecret testsecret): an outside reference, not our code checking itself.
func TestAliyunSignatureMatchesVendorExample(t *testing.T) {
	params := map[string]string{
		"Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26", "SignatureVersion": "1.0",
	}
	wantToSign := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
		"%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if got := sms.AliyunStringToSign("GET", params); got != wantToSign {
		t.Fatalf("string to sign\n got %s\nwant %s", got, wantToSign)
	}
	if got := sms.AliyunSign("GET", params, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("signature %s", got)
	}
	for in, want := range map[string]string{"a b": "a%20b", "a*b": "a%2Ab", "a~b": "a~b", "验证码": "%E9%AA%8C%E8%AF%81%E7%A0%81", `{"code":"1"}`: "%7B%22code%22%3A%221%22%7D"} {
		if got := sms.AliyunPercentEncode(in); got != want {
			t.Errorf("percent-encode %q = %q, want %q", in, got, want)
		}
	}
}

// The worked example of Tencent Cloud's "Signature v3" document (CVM DescribeInstances).
func TestTC3SignatureMatchesVendorExample(t *testing.T) {
	payload := []byte(`{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`)
	if sum := sha256.Sum256(payload); hex.EncodeToString(sum[:]) != "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064" {
		t.Fatal("payload hash differs from the documented one: example copied wrongly")
	}
	headers := [][2]string{{"content-type", "application/json; charset=utf-8"}, {"host", "cvm.tencentcloudapi.com"}}
	canonical, signed := sms.TC3CanonicalRequest(headers, payload)
	if signed != "content-type;host" {
		t.Fatalf("signed headers %q", signed)
	}
	if sum := sha256.Sum256([]byte(canonical)); hex.EncodeToString(sum[:]) != "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031" {
		t.Fatalf("canonical request differs from the documented one:\n%s", canonical)
	}
	if got := sms.TC3Signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", 1551113065, canonical); got != "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168" {
		t.Fatalf("signature %s", got)
	}
	auth := sms.TC3Authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", 1551113065, headers, payload)
	if auth != "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168" {
		t.Fatalf("authorization %s", auth)
	}
}

func TestAliyunGatewayAgainstVendorCheck(t *testing.T) {
	srv := smstest.Aliyun(t, "LTAI5tDemoKey", "demo-secret-123")
	gw, err := sms.New(sms.Config{Provider: sms.ProviderAliyun, Endpoint: srv.URL, AccessKeyID: "LTAI5tDemoKey", AccessKeySecret: "demo-secret-123",
		SignName: "陕西市场监管", Template: "SMS_123456789"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := gw.Send(ctx, "13800138000", "SMS_123456789", map[string]string{"code": "012345", "minutes": "5"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.Next(t, time.Second)
	if m.Phone != "13800138000" || m.Template != "SMS_123456789" || m.SignName != "陕西市场监管" || m.Params["code"] != "012345" || m.Params["minutes"] != "5" {
		t.Fatalf("message %+v", m)
	}
	// Two sends use two nonces (a reused nonce is refused by the vendor).
	if err := gw.Send(ctx, "13800138000", "SMS_123456789", map[string]string{"code": "111111"}); err != nil {
		t.Fatalf("second send: %v", err)
	}
	srv.Next(t, time.Second)
	// A wrong secret is refused with the vendor's error.
	bad, _ := sms.New(sms.Config{Provider: sms.ProviderAliyun, Endpoint: srv.URL, AccessKeyID: "LTAI5tDemoKey", AccessKeySecret: "wrong",
		SignName: "陕西市场监管", Template: "SMS_1"}, nil, nil)
	err = bad.Send(ctx, "13800138000", "SMS_1", map[string]string{"code": "1"})
	var ve *sms.VendorError
	if !errors.As(err, &ve) || ve.Code != "SignatureDoesNotMatch" || srv.Rejected.Load() != 1 {
		t.Fatalf("wrong secret: %v (rejected %d)", err, srv.Rejected.Load())
	}
	// A clock off by an hour is refused too.
	skewed := &sms.Aliyun{AccessKeyID: "LTAI5tDemoKey", AccessKeySecret: "demo-secret-123", SignName: "x", Endpoint: srv.URL,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	if err := skewed.Send(ctx, "13800138000", "SMS_1", nil); !errors.As(err, &ve) || ve.Code != "InvalidTimeStamp.Expired" {
		t.Fatalf("skewed clock: %v", err)
	}
}

func TestTencentGatewayAgainstVendorCheck(t *testing.T) {
	srv := smstest.Tencent(t, "AKIDDemoSecretId", "DemoSecretKey", "1400006666")
	cfg := sms.Config{Provider: sms.ProviderTencent, Endpoint: srv.URL, AccessKeyID: "AKIDDemoSecretId", AccessKeySecret: "DemoSecretKey",
		AppID: "1400006666", SignName: "陕西市场监管", Template: "1110", ParamOrder: []string{"code", "minutes"}}
	gw, err := sms.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := gw.Send(ctx, "13900139000", "1110", map[string]string{"minutes": "5", "code": "654321"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	m := srv.Next(t, time.Second)
	if m.Phone != "13900139000" || m.Template != "1110" || len(m.ParamSet) != 2 || m.ParamSet[0] != "654321" || m.ParamSet[1] != "5" {
		t.Fatalf("message %+v", m)
	}
	cfg.AccessKeySecret = "wrong"
	bad, _ := sms.New(cfg, nil, nil)
	err = bad.Send(ctx, "13900139000", "1110", map[string]string{"code": "1"})
	var ve *sms.VendorError
	if !errors.As(err, &ve) || ve.Code != "AuthFailure.SignatureFailure" {
		t.Fatalf("wrong secret: %v", err)
	}
	cfg.AccessKeySecret, cfg.AppID = "DemoSecretKey", "1400000000"
	other, _ := sms.New(cfg, nil, nil)
	if err := other.Send(ctx, "13900139000", "1110", nil); !errors.As(err, &ve) || ve.Code != "FailedOperation.SmsSdkAppIdVerifyFail" {
		t.Fatalf("wrong app id: %v", err)
	}
}

func TestLogGatewayWritesTheCode(t *testing.T) {
	var buf bytes.Buffer
	gw, err := sms.New(sms.Config{Provider: sms.ProviderLog}, nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Send(context.Background(), "13700137000", "login", map[string]string{"code": "246810"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "246810") || !strings.Contains(buf.String(), "13700137000") {
		t.Fatalf("log: %s", buf.String())
	}
}

func TestConfigCheck(t *testing.T) {
	if f := (sms.Config{Provider: "aliyun"}).Check(); f["access_key_id"] == "" || f["sign_name"] == "" || f["template"] == "" {
		t.Fatalf("missing fields not reported: %v", f)
	}
	if f := (sms.Config{Provider: "tencent", AccessKeyID: "a", AccessKeySecret: "b", SignName: "c", Template: "d"}).Check(); f["app_id"] == "" {
		t.Fatalf("tencent app id not required: %v", f)
	}
	if f := (sms.Config{Provider: "other"}).Check(); f["provider"] == "" {
		t.Fatal("unknown provider accepted")
	}
}
