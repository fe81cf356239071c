package quality_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/quality"
)

// ruleForm is the editor's body for rule r (the API refuses the stored rule's extra fields).
func ruleForm(r quality.Rule) map[string]any {
	return map[string]any{"code": r.Code, "name": r.Name, "description": r.Description, "dataset": r.Dataset,
		"template": r.Template, "params": r.Params, "dimension": r.Dimension, "severity": r.Severity,
		"threshold": r.Threshold, "filter": r.Filter, "exceptions": r.Exceptions, "schedule": r.Schedule,
		"sample_cap": r.SampleCap, "enabled": r.Enabled}
}

// TestRulesAndSettingsNeedProvinceScope: rules and settings apply to the whole province (and a
// custom rule's SQL reads every region's rows), so an analyst of Xi'an reads them and runs
// checks but cannot create, change or delete rules or save settings — in the API or the pages —
// while an analyst of the province can.
func TestRulesAndSettingsNeedProvinceScope(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("xa_analyst", "610100", "analyst")
		e.User("prov", "610000", "analyst")
		xa, prov := e.Login("xa_analyst"), e.Login("prov")

		getRule := func(id int64) quality.Rule {
			t.Helper()
			var r quality.Rule
			if res := prov.Do("GET", fmt.Sprintf("/api/v1/quality/rules/%d", id), nil); res.Status != 200 {
				t.Fatalf("get rule %d: %d %s", id, res.Status, res.Body)
			} else {
				res.JSON(&r)
			}
			return r
		}
		getSettings := func() string {
			t.Helper()
			res := prov.Do("GET", "/api/v1/quality/settings", nil)
			if res.Status != 200 {
				t.Fatalf("settings: %d %s", res.Status, res.Body)
			}
			return string(res.Body)
		}
		refused := func(who string, res *apptest.Response) {
			t.Helper()
			if res.Status != 403 || !strings.Contains(string(res.Body), "仅限数据范围为全省的账号使用") {
				t.Errorf("%s: %d %s", who, res.Status, res.Body)
			}
		}

		b, err := e.App.Quality().RuleByCode(ctx, "ENT_USCC_VALID")
		if err != nil {
			t.Fatal(err)
		}
		before := getRule(b.ID)
		if !before.Enabled {
			t.Fatalf("ENT_USCC_VALID disabled from the start")
		}
		settingsBefore := getSettings()

		// A non-built-in rule of the province, for the delete attempt.
		res := prov.Do("POST", "/api/v1/quality/rules", map[string]any{"code": "T_PROV", "name": "名称非空", "dataset": "enterprise",
			"template": "not_empty", "params": map[string]any{"column": "name"}})
		if res.Status != 201 {
			t.Fatalf("province creates: %d %s", res.Status, res.Body)
		}
		var own quality.Rule
		res.JSON(&own)

		// Xi'an: every change is refused and changes nothing.
		off := ruleForm(before)
		off["enabled"] = false
		refused("Xi'an disables a province rule", xa.Do("PUT", fmt.Sprintf("/api/v1/quality/rules/%d", b.ID), off))
		refused("Xi'an creates a probing rule", xa.Do("POST", "/api/v1/quality/rules", map[string]any{"code": "T_PROBE", "name": "探测",
			"dataset": "enterprise", "template": "custom_condition",
			"params": map[string]any{"condition": "(SELECT COUNT(*) FROM ds_enterprise e WHERE e.region_code LIKE '6103%') > 0"}}))
		refused("Xi'an deletes a rule", xa.Do("DELETE", fmt.Sprintf("/api/v1/quality/rules/%d", own.ID), nil))
		refused("Xi'an saves settings", xa.Do("PUT", "/api/v1/quality/settings", map[string]any{"weights": map[string]any{"规范性": 5}, "sample_cap": 10, "timeout_seconds": 5}))
		if after := getRule(b.ID); !after.Enabled || after.Version != before.Version || after.UpdatedBy != before.UpdatedBy {
			t.Errorf("refused update changed the rule: %+v", after)
		}
		if r := getRule(own.ID); r.Code != "T_PROV" {
			t.Errorf("refused delete removed the rule")
		}
		var probes int
		e.App.DB.Get(ctx, &probes, `SELECT COUNT(*) FROM quality_rules WHERE code = 'T_PROBE'`)
		if probes != 0 {
			t.Errorf("refused create stored the rule")
		}
		if s := getSettings(); s != settingsBefore {
			t.Errorf("refused settings changed them: %s → %s", settingsBefore, s)
		}

		// Xi'an still reads the rules and runs checks (results are shown in its scope).
		if res := xa.Do("GET", "/api/v1/quality/rules", nil); res.Status != 200 {
			t.Errorf("Xi'an reads rules: %d", res.Status)
		}
		if res := xa.Do("POST", "/api/v1/quality/runs", map[string]any{"rule": "ENT_USCC_VALID"}); res.Status != 201 {
			t.Errorf("Xi'an runs a check: %d %s", res.Status, res.Body)
		}

		// Xi'an's pages: no "新增", the new-rule page refused, the editor read-only.
		page := xa.Do("GET", "/quality/rules", nil)
		if page.Status != 200 || strings.Contains(string(page.Body), `id="new-rule"`) || !strings.Contains(string(page.Body), "ENT_USCC_VALID") {
			t.Errorf("Xi'an rule catalogue: %d, offers new rule: %v", page.Status, strings.Contains(string(page.Body), `id="new-rule"`))
		}
		page = xa.Do("GET", "/quality/rules/new", nil)
		if page.Status != 403 || !strings.Contains(string(page.Body), "仅限数据范围为全省的账号使用") || !strings.Contains(string(page.Body), "</html>") {
			t.Errorf("Xi'an new-rule page: %d", page.Status)
		}
		for _, id := range []int64{b.ID, own.ID} {
			page = xa.Do("GET", fmt.Sprintf("/quality/rules/%d", id), nil)
			body := string(page.Body)
			if page.Status != 200 || !strings.Contains(body, `id="rule-form"`) {
				t.Fatalf("Xi'an editor %d: %d", id, page.Status)
			}
			if strings.Contains(body, `id="rule-save"`) || strings.Contains(body, `data-method="DELETE"`) {
				t.Errorf("Xi'an editor %d offers save or delete", id)
			}
			if !strings.Contains(body, "只有数据范围为全省的用户可以修改") || !strings.Contains(body, `<fieldset disabled`) {
				t.Errorf("Xi'an editor %d is not marked read-only", id)
			}
			if !strings.Contains(body, "立即核查此规则") {
				t.Errorf("Xi'an editor %d lost the run button", id)
			}
		}

		// The province: pages offer editing, and every change succeeds.
		if body := string(prov.Do("GET", "/quality/rules", nil).Body); !strings.Contains(body, `id="new-rule"`) {
			t.Errorf("province catalogue lacks 新增规则")
		}
		if res := prov.Do("GET", "/quality/rules/new", nil); res.Status != 200 || !strings.Contains(string(res.Body), `id="rule-save"`) {
			t.Errorf("province new-rule page: %d", res.Status)
		}
		body := string(prov.Do("GET", fmt.Sprintf("/quality/rules/%d", own.ID), nil).Body)
		if !strings.Contains(body, `id="rule-save"`) || !strings.Contains(body, `data-method="DELETE"`) || strings.Contains(body, `<fieldset disabled`) {
			t.Errorf("province editor lacks save or delete")
		}
		if res := prov.Do("PUT", fmt.Sprintf("/api/v1/quality/rules/%d", b.ID), off); res.Status != 200 {
			t.Errorf("province update: %d %s", res.Status, res.Body)
		}
		if r := getRule(b.ID); r.Enabled || r.Version != before.Version+1 {
			t.Errorf("province update not applied: %+v", r)
		}
		if res := prov.Do("PUT", "/api/v1/quality/settings", map[string]any{"weights": map[string]any{"规范性": 2}, "sample_cap": 100, "timeout_seconds": 30}); res.Status != 200 {
			t.Errorf("province settings: %d %s", res.Status, res.Body)
		}
		if getSettings() == settingsBefore {
			t.Errorf("province settings not saved")
		}
		if res := prov.Do("DELETE", fmt.Sprintf("/api/v1/quality/rules/%d", own.ID), nil); res.Status != 200 {
			t.Errorf("province delete: %d %s", res.Status, res.Body)
		}
	})
}
