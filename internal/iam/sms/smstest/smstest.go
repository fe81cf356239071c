// Package smstest runs stand-ins for the Aliyun and Tencent Cloud SMS APIs in tests. Each
// checks a request the way the vendor does — recomputing the signature from what arrived
// on the wire with its own canonicalisation, the timestamp window and nonce reuse — and
// answers with the vendor's JSON, so a gateway that signs wrongly fails here as it would
// against the real service.
package smstest

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Message is one accepted SMS.
type Message struct {
	Vendor   string
	Phone    string
	Template string
	SignName string
	Params   map[string]string // Aliyun TemplateParam
	ParamSet []string          // Tencent TemplateParamSet
}

// Server is a fake vendor endpoint.
type Server struct {
	*httptest.Server
	KeyID, Secret, AppID string
	Messages             chan Message
	Rejected             atomic.Int64 // requests refused (signature, time, nonce, parameters)
	LastError            atomic.Value // string: the last refusal code
	mu                   sync.Mutex
	nonces               map[string]bool
	seq                  atomic.Int64
}

func newServer(t testing.TB, keyID, secret, appID string, h func(*Server, http.ResponseWriter, *http.Request)) *Server {
	s := &Server{KeyID: keyID, Secret: secret, AppID: appID, Messages: make(chan Message, 100), nonces: map[string]bool{}}
	s.LastError.Store("")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(s, w, r) }))
	t.Cleanup(s.Close)
	return s
}

// Next waits for the next accepted message.
func (s *Server) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(timeout):
		t.Fatalf("no SMS reached the %s gateway within %s (last refusal %q)", s.URL, timeout, s.LastError.Load())
	}
	return Message{}
}

func (s *Server) refuse(w http.ResponseWriter, status int, code string, body any) {
	s.Rejected.Add(1)
	s.LastError.Store(code)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// rfc3986 percent-encodes every byte except A–Z a–z 0–9 - _ . ~ with upper-case hex.
func rfc3986(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Aliyun starts a stand-in for dysmsapi.aliyuncs.com (RPC API, signature version 1.0).
func Aliyun(t testing.TB, accessKeyID, accessKeySecret string) *Server {
	return newServer(t, accessKeyID, accessKeySecret, "", (*Server).aliyun)
}

func (s *Server) aliyun(w http.ResponseWriter, r *http.Request) {
	reqID := fmt.Sprintf("F655A8D5-B967-440B-8683-%012d", s.seq.Add(1))
	fail := func(status int, code, msg string) {
		s.refuse(w, status, code, map[string]string{"RequestId": reqID, "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": msg})
	}
	if err := r.ParseForm(); err != nil {
		fail(400, "InvalidParameter", "bad query")
		return
	}
	q := r.Form
	params := map[string]string{}
	for k, v := range q {
		if len(v) != 1 {
			fail(400, "InvalidParameter", "duplicate parameter "+k)
			return
		}
		params[k] = v[0]
	}
	sig := params["Signature"]
	delete(params, "Signature")
	for _, k := range []string{"AccessKeyId", "Action", "Format", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version"} {
		if params[k] == "" {
			fail(400, "MissingParameter", "The input parameter \""+k+"\" that is mandatory for processing this request is not supplied.")
			return
		}
	}
	if params["AccessKeyId"] != s.KeyID {
		fail(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		return
	}
	if params["SignatureMethod"] != "HMAC-SHA1" || params["SignatureVersion"] != "1.0" {
		fail(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
		return
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", params["Timestamp"])
	if err != nil {
		fail(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
		return
	}
	if d := time.Since(ts); d > 15*time.Minute || d < -15*time.Minute {
		fail(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
		return
	}
	// The signature, recomputed from the parameters as received.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = rfc3986(k) + "=" + rfc3986(params[k])
	}
	toSign := r.Method + "&" + rfc3986("/") + "&" + rfc3986(strings.Join(pairs, "&"))
	m := hmac.New(sha1.New, []byte(s.Secret+"&"))
	m.Write([]byte(toSign))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		fail(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation. server string to sign is:"+toSign)
		return
	}
	s.mu.Lock()
	used := s.nonces[params["SignatureNonce"]]
	s.nonces[params["SignatureNonce"]] = true
	s.mu.Unlock()
	if used {
		fail(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
		return
	}
	if params["Action"] != "SendSms" || params["Version"] != "2017-05-25" {
		fail(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
		return
	}
	var tp map[string]string
	if err := json.Unmarshal([]byte(params["TemplateParam"]), &tp); err != nil {
		s.refuse(w, 200, "isv.INVALID_JSON_PARAM", map[string]string{"RequestId": reqID, "Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法，只接受字符串值"})
		return
	}
	phone := params["PhoneNumbers"]
	if len(phone) != 11 || params["SignName"] == "" || params["TemplateCode"] == "" {
		s.refuse(w, 200, "isv.MOBILE_NUMBER_ILLEGAL", map[string]string{"RequestId": reqID, "Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
		return
	}
	s.Messages <- Message{Vendor: "aliyun", Phone: phone, Template: params["TemplateCode"], SignName: params["SignName"], Params: tp}
	writeJSON(w, 200, map[string]string{"Message": "OK", "RequestId": reqID, "Code": "OK", "BizId": fmt.Sprintf("9006197469364984%04d^0", s.seq.Load())})
}

// Tencent starts a stand-in for sms.tencentcloudapi.com (API 3.0, TC3-HMAC-SHA256).
func Tencent(t testing.TB, secretID, secretKey, appID string) *Server {
	return newServer(t, secretID, secretKey, appID, (*Server).tencent)
}

func (s *Server) tencent(w http.ResponseWriter, r *http.Request) {
	reqID := fmt.Sprintf("a0aabda6-cf91-4f3e-a2a0-%012d", s.seq.Add(1))
	fail := func(code, msg string) {
		s.refuse(w, 200, code, map[string]any{"Response": map[string]any{"Error": map[string]string{"Code": code, "Message": msg}, "RequestId": reqID}})
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		fail("InvalidParameter", "only POST / is supported here")
		return
	}
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "TC3-HMAC-SHA256 ")
	if !ok {
		fail("AuthFailure.InvalidAuthorization", "Authorization header format error.")
		return
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(part, "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 4 || cred[3] != "tc3_request" {
		fail("AuthFailure.InvalidAuthorization", "Credential format error.")
		return
	}
	if cred[0] != s.KeyID {
		fail("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.")
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		fail("MissingParameter", "The request is missing a required parameter `Timestamp`.")
		return
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		fail("AuthFailure.SignatureExpire", "Signature expired. Timestamp and server time cannot differ by more than 5 minutes.")
		return
	}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	if cred[1] != date || cred[2] != "sms" {
		fail("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Credential scope mismatch.")
		return
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	has := map[string]bool{}
	var ch strings.Builder
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		has[h] = true
		ch.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	if !has["content-type"] || !has["host"] {
		fail("AuthFailure.SignatureFailure", "SignedHeaders must contain content-type and host.")
		return
	}
	payload := sha256.Sum256(body)
	canonical := "POST\n/\n" + r.URL.RawQuery + "\n" + ch.String() + "\n" + fields["SignedHeaders"] + "\n" + hex.EncodeToString(payload[:])
	hashed := sha256.Sum256([]byte(canonical))
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + date + "/sms/tc3_request\n" + hex.EncodeToString(hashed[:])
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	k := mac(mac(mac([]byte("TC3"+s.Secret), date), "sms"), "tc3_request")
	if want := hex.EncodeToString(mac(k, toSign)); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		fail("AuthFailure.SignatureFailure", "The provided credentials could not be validated. Please check your signature is correct.")
		return
	}
	if r.Header.Get("X-TC-Action") != "SendSms" || r.Header.Get("X-TC-Version") != "2021-01-11" {
		fail("InvalidAction", "The action requested is invalid.")
		return
	}
	var in struct {
		PhoneNumberSet   []string
		SmsSdkAppId      string
		SignName         string
		TemplateId       string
		TemplateParamSet []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail("InvalidParameter.JsonParseError", "JSON parse error.")
		return
	}
	if in.SmsSdkAppId != s.AppID {
		fail("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verification failed.")
		return
	}
	if len(in.PhoneNumberSet) != 1 || !strings.HasPrefix(in.PhoneNumberSet[0], "+86") || in.SignName == "" || in.TemplateId == "" {
		fail("InvalidParameterValue.IncorrectPhoneNumber", "Incorrect phone number or missing SignName/TemplateId.")
		return
	}
	s.Messages <- Message{Vendor: "tencent", Phone: strings.TrimPrefix(in.PhoneNumberSet[0], "+86"), Template: in.TemplateId, SignName: in.SignName, ParamSet: in.TemplateParamSet}
	writeJSON(w, 200, map[string]any{"Response": map[string]any{
		"SendStatusSet": []map[string]any{{"SerialNo": fmt.Sprintf("2640:%019d", s.seq.Load()), "PhoneNumber": in.PhoneNumberSet[0],
			"Fee": 1, "SessionContext": "", "Code": "Ok", "Message": "send success", "IsoCode": "CN"}},
		"RequestId": reqID}})
}
