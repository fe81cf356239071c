package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injectable clock of the tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// robotReq is one request a mock robot accepted or refused.
type robotReq struct {
	At   time.Time      // the signed timestamp (or the clock when unsigned)
	Body map[string]any // decoded JSON
	Raw  string
	OK   bool
}

// robot is a loopback stand-in for a vendor robot: it checks the token and the signature the
// way the vendor documents them and answers with the vendor's JSON.
type robot struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *fakeClock
	token  string
	secret string
	// failNext makes the next n valid requests answer with a vendor error.
	failNext int

	mu   sync.Mutex
	reqs []robotReq
}

func (r *robot) record(q robotReq) {
	r.mu.Lock()
	r.reqs = append(r.reqs, q)
	r.mu.Unlock()
}

func (r *robot) accepted() []robotReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []robotReq
	for _, q := range r.reqs {
		if q.OK {
			out = append(out, q)
		}
	}
	return out
}

func (r *robot) all() []robotReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]robotReq(nil), r.reqs...)
}

func (r *robot) shouldFail() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failNext > 0 {
		r.failNext--
		return true
	}
	return false
}

func readJSON(t *testing.T, req *http.Request) (map[string]any, string) {
	b, _ := io.ReadAll(req.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("robot got invalid JSON: %v: %s", err, b)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	return m, string(b)
}

func within(a, b time.Time, d time.Duration) bool { return a.Sub(b) <= d && b.Sub(a) <= d }

// newDingTalk mocks https://oapi.dingtalk.com/robot/send with 加签: the sign (already
// URL-decoded by the query parser) must equal base64(HmacSHA256(secret, ts+"\n"+secret)) and
// the millisecond timestamp must be within one hour.
func newDingTalk(t *testing.T, clock *fakeClock, token, secret string) *robot {
	r := &robot{t: t, clock: clock, token: token, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, raw := readJSON(t, req)
		q := req.URL.Query()
		reply := func(code int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"errcode":`+strconv.Itoa(code)+`,"errmsg":"`+msg+`"}`)
		}
		if req.Method != http.MethodPost || req.URL.Path != "/robot/send" || q.Get("access_token") != r.token {
			r.record(robotReq{Body: body, Raw: raw})
			reply(300001, "token is not exist")
			return
		}
		at := clock.Now()
		if r.secret != "" {
			ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			m := hmac.New(sha256.New, []byte(r.secret))
			m.Write([]byte(q.Get("timestamp") + "\n" + r.secret))
			want := base64.StdEncoding.EncodeToString(m.Sum(nil))
			at = time.UnixMilli(ms)
			if err != nil || q.Get("sign") != want || !within(at, clock.Now(), time.Hour) {
				r.record(robotReq{At: at, Body: body, Raw: raw})
				reply(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
				return
			}
		}
		if mt, _ := body["msgtype"].(string); mt != "markdown" && mt != "text" {
			r.record(robotReq{At: at, Body: body, Raw: raw})
			reply(40035, "缺少参数 json")
			return
		}
		if r.shouldFail() {
			r.record(robotReq{At: at, Body: body, Raw: raw})
			reply(130101, "send too fast, exceed 20 times per minute")
			return
		}
		r.record(robotReq{At: at, Body: body, Raw: raw, OK: true})
		reply(0, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *robot) dingTalkURL() string { return r.srv.URL + "/robot/send?access_token=" + r.token }

// newWeCom mocks https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY (no signing).
func newWeCom(t *testing.T, clock *fakeClock, key string) *robot {
	r := &robot{t: t, clock: clock, token: key}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, raw := readJSON(t, req)
		w.Header().Set("Content-Type", "application/json")
		if req.URL.Path != "/cgi-bin/webhook/send" || req.URL.Query().Get("key") != r.token {
			r.record(robotReq{At: clock.Now(), Body: body, Raw: raw})
			io.WriteString(w, `{"errcode":93000,"errmsg":"invalid webhook url"}`)
			return
		}
		if r.shouldFail() {
			r.record(robotReq{At: clock.Now(), Body: body, Raw: raw})
			io.WriteString(w, `{"errcode":45009,"errmsg":"api freq out of limit"}`)
			return
		}
		r.record(robotReq{At: clock.Now(), Body: body, Raw: raw, OK: true})
		io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *robot) weComURL() string { return r.srv.URL + "/cgi-bin/webhook/send?key=" + r.token }

// newFeishu mocks https://open.feishu.cn/open-apis/bot/v2/hook/{token}: timestamp (seconds)
// and sign travel in the JSON body; sign = base64(HmacSHA256(key=ts+"\n"+secret, msg="")).
func newFeishu(t *testing.T, clock *fakeClock, token, secret string) *robot {
	r := &robot{t: t, clock: clock, token: token, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, raw := readJSON(t, req)
		w.Header().Set("Content-Type", "application/json")
		if req.URL.Path != "/open-apis/bot/v2/hook/"+r.token {
			r.record(robotReq{At: clock.Now(), Body: body, Raw: raw})
			io.WriteString(w, `{"code":19001,"msg":"param invalid: incoming webhook access token invalid","data":{}}`)
			return
		}
		at := clock.Now()
		if r.secret != "" {
			ts, _ := body["timestamp"].(string)
			sec, err := strconv.ParseInt(ts, 10, 64)
			m := hmac.New(sha256.New, []byte(ts+"\n"+r.secret))
			want := base64.StdEncoding.EncodeToString(m.Sum(nil))
			at = time.Unix(sec, 0)
			if err != nil || body["sign"] != want || !within(at, clock.Now(), time.Hour) {
				r.record(robotReq{At: at, Body: body, Raw: raw})
				io.WriteString(w, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time","data":{}}`)
				return
			}
		}
		if r.shouldFail() {
			r.record(robotReq{At: at, Body: body, Raw: raw})
			io.WriteString(w, `{"code":11232,"msg":"frequency limited psm[lark.oapi.app_platform_runtime]appID[1]","data":{}}`)
			return
		}
		r.record(robotReq{At: at, Body: body, Raw: raw, OK: true})
		io.WriteString(w, `{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *robot) feishuURL() string { return r.srv.URL + "/open-apis/bot/v2/hook/" + r.token }
