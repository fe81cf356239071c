package web

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestRateLimiterSlidingWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewRateLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.Allow("1.2.3.4") {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.Allow("1.2.3.4") {
		t.Fatal("fourth event in the window allowed")
	}
	if !l.Allow("5.6.7.8") {
		t.Fatal("another key limited")
	}
	now = now.Add(30 * time.Second) // half the previous window still counts
	if l.Allow("1.2.3.4") {
		t.Fatal("allowed while the sliding estimate is at the limit")
	}
	now = now.Add(2 * time.Minute)
	if !l.Allow("1.2.3.4") {
		t.Fatal("refused after the window passed")
	}
}

func TestPagingBounds(t *testing.T) {
	for q, ok := range map[string]bool{"": true, "page=2&size=500": true, "size=501": false, "page=0": false, "size=x": false} {
		_, err := Paging(httptest.NewRequest("GET", "/x?"+q, nil))
		if (err == nil) != ok {
			t.Errorf("%q: err=%v", q, err)
		}
	}
}

func TestClientIPTrustsProxyOnlyWhenTold(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:5555"
	r.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.1")
	if ip := clientIP(r, false); ip != "10.0.0.1" {
		t.Fatalf("untrusted: %s", ip)
	}
	if ip := clientIP(r, true); ip != "203.0.113.7" {
		t.Fatalf("trusted: %s", ip)
	}
}

func TestPageLinks(t *testing.T) {
	u, _ := url.Parse("/desk/tickets?state=accepted&page=2&q=%E5%A4%87%E4%BB%BD")
	for _, c := range []struct {
		page, total int
		prev, next  string
	}{
		{1, 0, "", ""},
		{1, 20, "", ""},
		{1, 21, "", "/desk/tickets?page=2&q=%E5%A4%87%E4%BB%BD&state=accepted"},
		{2, 41, "/desk/tickets?page=1&q=%E5%A4%87%E4%BB%BD&state=accepted", "/desk/tickets?page=3&q=%E5%A4%87%E4%BB%BD&state=accepted"},
		{3, 41, "/desk/tickets?page=2&q=%E5%A4%87%E4%BB%BD&state=accepted", ""},
	} {
		prev, next := PageLinks(u, Page{Page: c.page, Size: 20}, c.total)
		if prev != c.prev || next != c.next {
			t.Errorf("page %d of %d rows: %q %q, want %q %q", c.page, c.total, prev, next, c.prev, c.next)
		}
	}
}
