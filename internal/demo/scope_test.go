package demo_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestScopedAPIsStayInRegion calls every GET API without path parameters on the demo data as
// a county inspector and a city analyst, and checks every region_code in
// every answer: each must lie inside the caller's jurisdiction (data scope on every query).
func TestScopedAPIsStayInRegion(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := apptest.New(t, db)
		seedDemo(t, e)
		ctx := context.Background()
		for _, u := range []struct{ account, region, role string }{
			{"s_county", "610113", iam.RoleInspector},
			{"s_city", "610100", iam.RoleAnalyst},
		} {
			e.User(u.account, u.region, u.role)
			c := e.Login(u.account)
			checked := 0
			for _, r := range e.App.Routes {
				if r.Method != "GET" || !strings.HasPrefix(r.Pattern, "/api/") || strings.Contains(r.Pattern, "{") || strings.HasSuffix(r.Pattern, "/events") {
					continue
				}
				res := c.Do("GET", r.Pattern+"?size=500", nil)
				var body any
				if res.Status != 200 || json.Unmarshal(res.Body, &body) != nil {
					continue
				}
				outside, example := 0, ""
				for _, code := range regionCodes(body, nil) {
					checked++
					if ok, err := iam.RegionWithin(ctx, e.App.DB, code, u.region); err != nil || !ok {
						outside, example = outside+1, code
					}
				}
				if outside > 0 {
					t.Errorf("%s (%s): GET %s answers %d records outside the jurisdiction (region %s …)", u.account, u.region, r.Pattern, outside, example)
				}
			}
			t.Logf("%s: %d region codes checked", u.account, checked)
			if checked < 100 {
				t.Errorf("%s: only %d region codes in all answers; the check means little", u.account, checked)
			}
		}
	})
}

// regionCodes collects the values of every "region_code" key in a decoded JSON value.
func regionCodes(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "region_code" && s != "" {
				out = append(out, s)
			}
			out = regionCodes(c, out)
		}
	case []any:
		for _, c := range x {
			out = regionCodes(c, out)
		}
	}
	return out
}
