package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Tencent sends through Tencent Cloud SMS (API 3.0, version 2021-01-11, action SendSms),
// signing each request with TC3-HMAC-SHA256 over the headers content-type, host and
// x-tc-action.
type Tencent struct {
	SecretID   string
	SecretKey  string
	AppID      string // SmsSdkAppId
	SignName   string
	Endpoint   string   // default https://sms.tencentcloudapi.com
	Region     string   // default ap-guangzhou
	ParamOrder []string // order of TemplateParamSet; default code, minutes
	Client     *http.Client
	Now        func() time.Time
}

// TencentEndpoint is the public endpoint of Tencent Cloud SMS.
const TencentEndpoint = "https://sms.tencentcloudapi.com"

const tencentContentType = "application/json; charset=utf-8"

// Send implements Gateway.
func (t *Tencent) Send(ctx context.Context, phone, template string, params map[string]string) error {
	order := t.ParamOrder
	if len(order) == 0 {
		order = []string{"code", "minutes"}
	}
	set := []string{}
	for _, k := range order {
		if v, ok := params[k]; ok {
			set = append(set, v)
		}
	}
	if !strings.HasPrefix(phone, "+") {
		phone = "+86" + phone
	}
	body, err := json.Marshal(map[string]any{
		"PhoneNumberSet":   []string{phone},
		"SmsSdkAppId":      t.AppID,
		"SignName":         t.SignName,
		"TemplateId":       template,
		"TemplateParamSet": set,
	})
	if err != nil {
		return err
	}
	endpoint := t.Endpoint
	if endpoint == "" {
		endpoint = TencentEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return err
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	ts := now().Unix()
	region := t.Region
	if region == "" {
		region = "ap-guangzhou"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	const action = "SendSms"
	req.Header.Set("Content-Type", tencentContentType)
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-TC-Version", "2021-01-11")
	req.Header.Set("X-TC-Region", region)
	headers := [][2]string{{"content-type", tencentContentType}, {"host", u.Host}, {"x-tc-action", strings.ToLower(action)}}
	req.Header.Set("Authorization", TC3Authorization(t.SecretID, t.SecretKey, "sms", ts, headers, body))
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("腾讯云短信网关不可达: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		Response struct {
			Error *struct {
				Code    string `json:"Code"`
				Message string `json:"Message"`
			} `json:"Error"`
			SendStatusSet []struct {
				SerialNo    string `json:"SerialNo"`
				PhoneNumber string `json:"PhoneNumber"`
				Code        string `json:"Code"`
				Message     string `json:"Message"`
			} `json:"SendStatusSet"`
			RequestID string `json:"RequestId"`
		} `json:"Response"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("腾讯云短信网关应答无法解析（HTTP %d）", resp.StatusCode)
	}
	r := out.Response
	if r.Error != nil {
		return &VendorError{Vendor: "腾讯云", Code: r.Error.Code, Message: r.Error.Message, RequestID: r.RequestID}
	}
	if len(r.SendStatusSet) == 0 {
		return &VendorError{Vendor: "腾讯云", Code: "NoStatus", Message: "应答中没有发送状态", RequestID: r.RequestID}
	}
	if st := r.SendStatusSet[0]; st.Code != "Ok" {
		return &VendorError{Vendor: "腾讯云", Code: st.Code, Message: st.Message, RequestID: r.RequestID}
	}
	return nil
}

// TC3CanonicalRequest builds the canonical request of a POST with an empty query: method,
// "/", "", the headers as lower-case name:value lines sorted by name, their names joined by
// ";", and the hex SHA-256 of the payload.
func TC3CanonicalRequest(headers [][2]string, payload []byte) (canonical, signed string) {
	var ch strings.Builder
	names := make([]string, len(headers))
	for i, h := range headers {
		ch.WriteString(strings.ToLower(h[0]) + ":" + strings.ToLower(strings.TrimSpace(h[1])) + "\n")
		names[i] = strings.ToLower(h[0])
	}
	signed = strings.Join(names, ";")
	sum := sha256.Sum256(payload)
	return "POST\n/\n\n" + ch.String() + "\n" + signed + "\n" + hex.EncodeToString(sum[:]), signed
}

// TC3Signature derives the signing key from the secret, the UTC date of the timestamp and
// the service, and signs the string to sign.
func TC3Signature(secretKey, service string, ts int64, canonical string) string {
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	sum := sha256.Sum256([]byte(canonical))
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + date + "/" + service + "/tc3_request\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

// TC3Authorization returns the Authorization header value; headers must be sorted by name.
func TC3Authorization(secretID, secretKey, service string, ts int64, headers [][2]string, payload []byte) string {
	canonical, signed := TC3CanonicalRequest(headers, payload)
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	return "TC3-HMAC-SHA256 Credential=" + secretID + "/" + date + "/" + service + "/tc3_request, SignedHeaders=" + signed +
		", Signature=" + TC3Signature(secretKey, service, ts, canonical)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
