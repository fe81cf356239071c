package sms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Aliyun sends through Alibaba Cloud SMS (dysmsapi, API version 2017-05-25, action SendSms)
// with the RPC signature version 1.0: HMAC-SHA1, keyed with AccessKeySecret + "&", over
// "GET&%2F&" + percentEncode(canonicalized query), base64-encoded.
type Aliyun struct {
	AccessKeyID     string
	AccessKeySecret string
	SignName        string
	Endpoint        string // default https://dysmsapi.aliyuncs.com
	RegionID        string // default cn-hangzhou
	Client          *http.Client
	Now             func() time.Time
	Nonce           func() string
}

// AliyunEndpoint is the public endpoint of Alibaba Cloud SMS.
const AliyunEndpoint = "https://dysmsapi.aliyuncs.com"

// Send implements Gateway.
func (a *Aliyun) Send(ctx context.Context, phone, template string, params map[string]string) error {
	tp, err := json.Marshal(params)
	if err != nil {
		return err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	nonce := randomNonce
	if a.Nonce != nil {
		nonce = a.Nonce
	}
	region := a.RegionID
	if region == "" {
		region = "cn-hangzhou"
	}
	q := map[string]string{
		"AccessKeyId":      a.AccessKeyID,
		"Action":           "SendSms",
		"Format":           "JSON",
		"PhoneNumbers":     phone,
		"RegionId":         region,
		"SignName":         a.SignName,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   nonce(),
		"SignatureVersion": "1.0",
		"TemplateCode":     template,
		"TemplateParam":    string(tp),
		"Timestamp":        now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          "2017-05-25",
	}
	sig := AliyunSign(http.MethodGet, q, a.AccessKeySecret)
	endpoint := a.Endpoint
	if endpoint == "" {
		endpoint = AliyunEndpoint
	}
	u := strings.TrimRight(endpoint, "/") + "/?Signature=" + AliyunPercentEncode(sig) + "&" + AliyunCanonicalQuery(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("阿里云短信网关不可达: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		Code      string `json:"Code"`
		Message   string `json:"Message"`
		RequestID string `json:"RequestId"`
		BizID     string `json:"BizId"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("阿里云短信网关应答无法解析（HTTP %d）", resp.StatusCode)
	}
	if out.Code != "OK" {
		return &VendorError{Vendor: "阿里云", Code: out.Code, Message: out.Message, RequestID: out.RequestID}
	}
	return nil
}

// AliyunPercentEncode is the RPC API's percent-encoding: RFC 3986 unreserved characters stay,
// everything else (space included, as %20) is %XX in upper-case hex of its UTF-8 bytes.
func AliyunPercentEncode(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(e)
}

// AliyunCanonicalQuery sorts the parameters by name and joins the percent-encoded pairs.
func AliyunCanonicalQuery(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = AliyunPercentEncode(k) + "=" + AliyunPercentEncode(params[k])
	}
	return strings.Join(parts, "&")
}

// AliyunStringToSign is method&%2F&percentEncode(canonical query).
func AliyunStringToSign(method string, params map[string]string) string {
	return method + "&" + AliyunPercentEncode("/") + "&" + AliyunPercentEncode(AliyunCanonicalQuery(params))
}

// AliyunSign returns the base64 HMAC-SHA1 signature of the request parameters.
func AliyunSign(method string, params map[string]string, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(AliyunStringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func randomNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
