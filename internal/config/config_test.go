package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "zhsj.conf")
	os.WriteFile(file, []byte("# comment\nZHSJ_ADDR=0.0.0.0:1\nZHSJ_LOG_LEVEL=debug\nZHSJ_SESSION_IDLE=15m\n"), 0o600)
	secret := filepath.Join(dir, "metrics")
	os.WriteFile(secret, []byte("tok-from-file\n"), 0o600)
	env := map[string]string{
		"ZHSJ_CONFIG":             file,
		"ZHSJ_ADDR":               "0.0.0.0:2",
		"ZHSJ_METRICS_TOKEN_FILE": secret,
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:3" {
		t.Errorf("flag should win, got %s", c.Addr)
	}
	if c.LogLevel != "debug" || c.SessionIdle != 15*time.Minute {
		t.Errorf("file values lost: %+v", c)
	}
	if c.MetricsToken != "tok-from-file" {
		t.Errorf("_FILE secret not read: %q", c.MetricsToken)
	}
	if c.DataDir != "./data" || c.AuditRetention != 180 || c.SessionAbsolute != 12*time.Hour || !c.AutoMigrate {
		t.Errorf("defaults wrong: %+v", c)
	}
	delete(env, "ZHSJ_ADDR")
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs2)
	c, _ = Load(fs2, func(k string) string { return env[k] })
	if c.Addr != "0.0.0.0:1" {
		t.Errorf("file should apply without env and flag, got %s", c.Addr)
	}
}

func TestInvalidValuesRejected(t *testing.T) {
	for k, v := range map[string]string{"ZHSJ_AUDIT_RETENTION_DAYS": "30", "ZHSJ_SECRET_KEY": "abc", "ZHSJ_LOG_FORMAT": "xml", "ZHSJ_SESSION_IDLE": "soon"} {
		_, err := Load(nil, func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: want error naming it, got %v", k, v, err)
		}
	}
}

func TestSecretKeyFileCreatedOnce(t *testing.T) {
	c := Defaults()
	c.DataDir = t.TempDir()
	k1, err := c.EnsureSecretKey()
	if err != nil || len(k1) != 32 {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(c.DataDir, "secret.key"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode %v", st.Mode().Perm())
	}
	c2 := Defaults()
	c2.DataDir = c.DataDir
	k2, _ := c2.EnsureSecretKey()
	if string(k1) != string(k2) {
		t.Fatal("second start generated a new key")
	}
}
