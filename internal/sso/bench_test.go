package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure is one round: calls per second of wall time, and calls per second of this
// process's CPU time (server and load generator together). On a shared machine the second
// one shows the cost of a call independently of what else runs.
type measure struct{ wall, perCPU float64 }

// rate runs conc workers calling do for d.
func rate(b *testing.B, conc int, d time.Duration, do func(worker int, c *http.Client) error) measure {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	cpu0 := cpuTime()
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := do(w, client); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d failed calls, first: %v", failed.Load(), firstErr.Load())
	}
	return measure{wall: float64(ok.Load()) / d.Seconds(), perCPU: float64(ok.Load()) / (cpuTime() - cpu0).Seconds()}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// BenchmarkSSOEndpoints measures the token endpoint (refresh grant, with refresh token
// rotation, a new access token and a signed ID token per call) and CAS /p3/serviceValidate
// (single-use ticket redemption and the attribute answer) against plain /healthz, on one
// server and SQLite database in the same run. Run:
//
//	go test -run '^$' -bench SSOEndpoints -benchtime 1x ./internal/sso/
func BenchmarkSSOEndpoints(b *testing.B) {
	ctx := context.Background()
	e := apptest.New(b, storetest.SQLite(b))
	adm := admin(b, e)
	userWithPhone(b, e, "bench", "610100", "13900000000", "analyst")
	conc := 16
	if v, _ := strconv.Atoi(os.Getenv("SSO_BENCH_CONC")); v > 0 {
		conc = v
	}
	round := time.Second

	res := adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "bench-rp", "redirect_uris": []string{"https://rp.example/cb"},
		"scopes": []string{"openid", "profile", "offline_access"}, "confidential": true})
	var created struct{ Secret string }
	res.JSON(&created)
	provider, err := oidc.NewProvider(ctx, e.Server.URL)
	if err != nil {
		b.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: "bench-rp", ClientSecret: created.Secret, Endpoint: provider.Endpoint(), RedirectURL: "https://rp.example/cb",
		Scopes: []string{"openid", "profile", "offline_access"}}
	user := e.Login("bench")
	refresh := make([]string, conc)
	for i := range refresh {
		v := oauth2.GenerateVerifier()
		r := user.Do("GET", strings.TrimPrefix(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), e.Server.URL), nil)
		loc, _ := url.Parse(r.Header.Get("Location"))
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			b.Fatal(err)
		}
		refresh[i] = tok.RefreshToken
	}
	tokenURL := provider.Endpoint().TokenURL
	refreshOnce := func(w int, c *http.Client) error {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[w]}}
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bench-rp", created.Secret)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer drain(resp)
		var out struct {
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil || out.RefreshToken == "" || out.IDToken == "" {
			return &url.Error{Op: "refresh", URL: tokenURL, Err: io.ErrUnexpectedEOF}
		}
		refresh[w] = out.RefreshToken
		return nil
	}

	service := "https://cas-app.example.gov.cn/app"
	mustStatus(b, adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "cas", "service": "https://cas-app.example.gov.cn/", "scopes": []string{"profile"}}), 201)
	p, err := e.App.IAM.Authenticate(ctx, user.HTTP.Jar.Cookies(mustParse(e.Server.URL))[0].Value)
	if err != nil {
		b.Fatal(err)
	}
	var tickets chan string
	issue := func(n int) {
		ts, err := svc(e).IssueCASTicketsForBench(ctx, p, service, n, 10*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		tickets = make(chan string, n)
		for _, t := range ts {
			tickets <- t
		}
	}
	validateOnce := func(w int, c *http.Client) error {
		var st string
		select {
		case st = <-tickets:
		default:
			return errors.New("ran out of tickets: issue more for the round")
		}
		resp, err := c.Get(e.Server.URL + "/cas/p3/serviceValidate?service=" + url.QueryEscape(service) + "&ticket=" + st)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "<cas:user>bench</cas:user>") {
			return &url.Error{Op: "validate", URL: st, Err: io.ErrUnexpectedEOF}
		}
		return nil
	}
	healthOnce := func(w int, c *http.Client) error {
		resp, err := c.Get(e.Server.URL + "/healthz")
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode != 200 {
			return io.ErrUnexpectedEOF
		}
		return nil
	}

	// Interleaved rounds (healthz, refresh, validate) so that all three see the same
	// machine load; the medians are reported.
	const rounds = 5
	issue(rounds*8000 + 8000)
	for b.Loop() {
		rate(b, conc, time.Second, healthOnce) // warm up
		rate(b, conc, time.Second, refreshOnce)
		var health, tok, cas []measure
		for i := 0; i < rounds; i++ {
			health = append(health, rate(b, conc, round, healthOnce))
			tok = append(tok, rate(b, conc, round, refreshOnce))
			cas = append(cas, rate(b, conc, round, validateOnce))
		}
		for _, m := range []struct {
			name string
			v    []measure
		}{{"healthz", health}, {"token-refresh", tok}, {"cas-validate", cas}} {
			b.ReportMetric(median(m.v, func(x measure) float64 { return x.wall }), m.name+"-req/s")
			b.ReportMetric(median(m.v, func(x measure) float64 { return x.perCPU }), m.name+"-req/cpu-s")
		}
	}
}

func median(v []measure, f func(measure) float64) float64 {
	s := make([]float64, len(v))
	for i, x := range v {
		s[i] = f(x)
	}
	sort.Float64s(s)
	return s[len(s)/2]
}

func mustParse(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// BenchmarkTokenRefreshSerial is one client refreshing in a loop (for profiles).
func BenchmarkTokenRefreshSerial(b *testing.B) {
	ctx := context.Background()
	e := apptest.New(b, storetest.SQLite(b))
	adm := admin(b, e)
	userWithPhone(b, e, "bench", "610100", "13900000000", "analyst")
	res := adm.Do("POST", "/api/v1/sso/clients", map[string]any{"protocol": "oidc", "client_id": "bench-rp", "redirect_uris": []string{"https://rp.example/cb"},
		"scopes": []string{"openid", "profile", "offline_access"}, "confidential": true})
	var created struct{ Secret string }
	res.JSON(&created)
	provider, _ := oidc.NewProvider(ctx, e.Server.URL)
	conf := &oauth2.Config{ClientID: "bench-rp", ClientSecret: created.Secret, Endpoint: provider.Endpoint(), RedirectURL: "https://rp.example/cb",
		Scopes: []string{"openid", "profile", "offline_access"}}
	user := e.Login("bench")
	v := oauth2.GenerateVerifier()
	r := user.Do("GET", strings.TrimPrefix(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(v)), e.Server.URL), nil)
	loc, _ := url.Parse(r.Header.Get("Location"))
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		b.Fatal(err)
	}
	rt := tok.RefreshToken
	c := &http.Client{}
	for b.Loop() {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		req, _ := http.NewRequest("POST", provider.Endpoint().TokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("bench-rp", created.Secret)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if out.RefreshToken == "" {
			b.Fatal("no refresh token")
		}
		rt = out.RefreshToken
	}
}
