package app_test

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// load sends GET path from conc keep-alive clients for d and returns requests per second.
func load(t testing.TB, url string, cookie *http.Cookie, conc int, d time.Duration) float64 {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	var failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			if cookie != nil {
				req.AddCookie(cookie)
			}
			for time.Now().Before(deadline) {
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%s: %d failed requests", url, failed.Load())
	}
	return float64(n.Load()) / d.Seconds()
}

// BenchmarkMeVsHealthz measures an authenticated GET /api/v1/me (session lookup, user status,
// roles and permissions on every request) against an unauthenticated GET /healthz on the
// same server and SQLite database, side by side. Run:
//
//	go test -run '^$' -bench MeVsHealthz -benchtime 1x ./internal/app/
func BenchmarkMeVsHealthz(b *testing.B) {
	e := apptest.New(b, storetest.SQLite(b))
	e.User("bench", "610100", "analyst")
	c := e.Login("bench")
	var cookie *http.Cookie
	for _, ck := range c.HTTP.Jar.Cookies(mustURL(e.Server.URL)) {
		cookie = ck
	}
	const conc = 16
	const rounds = 7
	for b.Loop() {
		load(b, e.Server.URL+"/healthz", nil, conc, time.Second) // warm up
		var hs, ms, rs []float64
		// Interleaved rounds: whatever else the machine is doing affects both alike.
		for i := 0; i < rounds; i++ {
			h := load(b, e.Server.URL+"/healthz", nil, conc, time.Second)
			m := load(b, e.Server.URL+"/api/v1/me", cookie, conc, time.Second)
			hs, ms, rs = append(hs, h), append(ms, m), append(rs, m/h)
		}
		b.ReportMetric(median(hs), "healthz-req/s")
		b.ReportMetric(median(ms), "me-req/s")
		b.ReportMetric(median(rs), "me/healthz")
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
