package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSOClientAdd checks the fixed command-line interface of issue 5: confidential OIDC
// clients with the secret from standard input, public ones without, CAS services, and
// connectors applied from a configuration file with the secret from the environment.
func TestSSOClientAdd(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "a-long-client-secret-0001\n", "sso", "client", "add", "--data", dir, "--protocol", "oidc", "--id", "portal",
		"--redirect-uri", "https://portal.example.gov.cn/cb", "--redirect-uri", "https://portal.example.gov.cn/cb2",
		"--backchannel-logout-uri", "https://portal.example.gov.cn/bcl", "--secret-stdin")
	if err != nil || !strings.Contains(out, "已登记OpenID Connect应用 portal") || strings.Contains(out, "a-long-client-secret") {
		t.Fatalf("oidc confidential: %v %s", err, out)
	}
	out, err = run(t, "", "sso", "client", "add", "--data", dir, "--protocol", "oidc", "--id", "app", "--redirect-uri", "http://127.0.0.1/cb")
	if err != nil || !strings.Contains(out, "PKCE") {
		t.Fatalf("oidc public: %v %s", err, out)
	}
	if out, err = run(t, "", "sso", "client", "add", "--data", dir, "--protocol", "cas", "--service", "https://cas-app.example.gov.cn/"); err != nil {
		t.Fatalf("cas: %v %s", err, out)
	}
	if _, err := run(t, "", "sso", "client", "add", "--data", dir, "--protocol", "oidc", "--id", "nocb"); err == nil || !strings.Contains(err.Error(), "回调地址") {
		t.Fatalf("oidc without redirect uri: %v", err)
	}
	if _, err := run(t, "short\n", "sso", "client", "add", "--data", dir, "--protocol", "oidc", "--id", "weak", "--redirect-uri", "https://x.example/cb", "--secret-stdin"); err == nil {
		t.Fatal("a short secret was accepted")
	}
	out, err = run(t, "", "sso", "client", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "portal") || !strings.Contains(out, "https://cas-app.example.gov.cn/") || !strings.Contains(out, "app ") {
		t.Fatalf("list: %v %s", err, out)
	}

	file := filepath.Join(dir, "connectors.json")
	os.WriteFile(file, []byte(`[{"id":"baoji","name":"宝鸡市一体化平台","kind":"ticket","region_code":"610300","enabled":true,"binding_rule":"phone",
	  "secret_env":"ZHSJ_TEST_BAOJI_SECRET","config":{"validate_url":"https://bj.example.gov.cn/sso/ticket/validate","app_id":"zhsj","sign_alg":"sm3"}}]`), 0o600)
	if _, err := run(t, "", "sso", "connector", "apply", "--data", dir, "--file", file); err == nil || !strings.Contains(err.Error(), "ZHSJ_TEST_BAOJI_SECRET") {
		t.Fatalf("apply without the secret's variable: %v", err)
	}
	t.Setenv("ZHSJ_TEST_BAOJI_SECRET", "baoji-shared-secret-1")
	for i := 0; i < 2; i++ { // rerunning changes nothing
		if out, err := run(t, "", "sso", "connector", "apply", "--data", dir, "--file", file); err != nil || !strings.Contains(out, "baoji 宝鸡市一体化平台：已启用") {
			t.Fatalf("apply: %v %s", err, out)
		}
	}
	out, err = run(t, "", "sso", "connector", "list", "--data", dir)
	if err != nil || strings.Count(out, "待配置") != 12 || !strings.Contains(out, "shaanxi-zfjd") {
		t.Fatalf("connector list: %v %s", err, out)
	}
	if out, err := run(t, "", "sso", "keys", "rotate", "--data", dir); err != nil || !strings.Contains(out, "已启用新签名密钥") {
		t.Fatalf("rotate: %v %s", err, out)
	}
}
