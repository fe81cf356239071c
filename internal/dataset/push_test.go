package dataset_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset"
	"zhsj/internal/dataset/validate"
)

// pushClient posts batches to the enterprise push endpoint with an exchange-platform token.
func pushClient(t *testing.T, e *apptest.Env) func(key, body string) *apptest.Response {
	uid := e.User("exchange_c", "610000", "analyst")
	p, err := e.App.IAM.PrincipalFor(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.App.IAM.CreateToken(t.Context(), httptestRequest(), p, "交换平台", []string{"dataset.push.write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return func(key, body string) *apptest.Response {
		req, _ := http.NewRequest("POST", e.Server.URL+"/api/v1/datasets/enterprise/push", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return &apptest.Response{}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return &apptest.Response{Status: resp.StatusCode, Body: b, Header: resp.Header}
	}
}

func pushBatch(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"uscc":%q,"name":"并发推送%s%d有限公司","region_code":"610113"}`, validate.MakeUSCC('9', '1', "610113", fmt.Sprintf("%s%06d", prefix, i)), prefix, i)
	}
	b.WriteString("]")
	return b.String()
}

func errorCode(r *apptest.Response) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// TestPushSameKeyConcurrently fires concurrent pushes of one batch with one Idempotency-Key:
// exactly one runs; the others get the first answer or 409 "in progress" (with Retry-After),
// and a later retry gets the first answer.
func TestPushSameKeyConcurrently(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		push := pushClient(t, e)
		batch := pushBatch("PC", 1500) // large enough that the first is still running when the others arrive
		const n = 8
		answers := make([]*apptest.Response, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				answers[i] = push("same-key-1", batch)
			}()
		}
		close(start)
		wg.Wait()
		var runID int64
		ran, busy := 0, 0
		for _, a := range answers {
			switch {
			case a.Status == 200:
				var res dataset.Result
				if a.JSON(&res) != nil || res.Status != dataset.StatusCommitted || (runID != 0 && res.RunID != runID) {
					t.Errorf("answer %s (first run %d)", a.Body, runID)
				}
				runID = res.RunID
				if a.Header.Get("Idempotent-Replayed") != "true" {
					ran++
				}
			case a.Status == 409 && errorCode(a) == "idempotency_key_in_progress" && a.Header.Get("Retry-After") != "":
				busy++
			default:
				t.Errorf("concurrent push: %d %s", a.Status, a.Body)
			}
		}
		t.Logf("%d ran, %d replayed, %d in progress", ran, n-ran-busy, busy)
		var runs int
		e.App.DB.Get(t.Context(), &runs, `SELECT COUNT(*) FROM ds_ingest_runs WHERE source_kind = 'http_push'`)
		if runs != 1 || ran != 1 {
			t.Fatalf("%d concurrent pushes with one key: %d runs recorded, %d answers from a run", n, runs, ran)
		}
		again := push("same-key-1", batch)
		var res dataset.Result
		if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "true" || again.JSON(&res) != nil || res.RunID != runID || res.Upserted != 1500 {
			t.Fatalf("retry after the run: %d %s", again.Status, again.Body)
		}
	})
}

// TestPushKeyClaims: a key whose batch is being processed answers 409 in progress (or key
// reused, for other content); the claim of a request that died (no run started in time, or its
// run gone) is taken over by the next request.
func TestPushKeyClaims(t *testing.T) {
	t.Parallel()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := t.Context()
		push := pushClient(t, e)
		batch := pushBatch("PK", 3)
		sum := sha256.Sum256([]byte(batch))
		claim := fmt.Sprintf(`{"status":"running","body_sha256":%q,"claim":"other-request"}`, hex.EncodeToString(sum[:]))
		now := time.Now().UTC()
		for _, c := range []struct {
			key   string
			runID int64
			at    time.Time
		}{{"busy", 0, now}, {"dead-before-run", 0, now.Add(-time.Hour)}, {"dead-run", 987654321, now}} {
			if _, err := e.App.DB.Exec(ctx, `INSERT INTO ds_push_keys(dataset, idem_key, run_id, response, created_at) VALUES ('enterprise', ?, ?, ?, ?)`,
				c.key, c.runID, claim, c.at); err != nil {
				t.Fatal(err)
			}
		}
		if r := push("busy", batch); r.Status != 409 || errorCode(r) != "idempotency_key_in_progress" || r.Header.Get("Retry-After") == "" {
			t.Errorf("key in progress: %d %s", r.Status, r.Body)
		}
		if r := push("busy", pushBatch("PX", 1)); r.Status != 409 || errorCode(r) != "idempotency_key_reused" {
			t.Errorf("key in progress, other content: %d %s", r.Status, r.Body)
		}
		for _, key := range []string{"dead-before-run", "dead-run"} {
			r := push(key, batch)
			var res dataset.Result
			if r.Status != 200 || r.Header.Get("Idempotent-Replayed") == "true" || r.JSON(&res) != nil || res.Status != dataset.StatusCommitted {
				t.Fatalf("taking over %s: %d %s", key, r.Status, r.Body)
			}
			var stored string
			e.App.DB.Get(ctx, &stored, `SELECT response FROM ds_push_keys WHERE dataset = 'enterprise' AND idem_key = ?`, key)
			var a dataset.Result
			if json.Unmarshal([]byte(stored), &a) != nil || a.RunID != res.RunID || a.Status != dataset.StatusCommitted {
				t.Errorf("%s stored answer %s, run %d", key, stored, res.RunID)
			}
			if r := push(key, batch); r.Status != 200 || r.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("%s retried: %d %s", key, r.Status, r.Body)
			}
		}
		var runs int
		e.App.DB.Get(ctx, &runs, `SELECT COUNT(*) FROM ds_ingest_runs WHERE source_kind = 'http_push'`)
		if runs != 2 {
			t.Errorf("%d push runs, want 2 (the two taken-over keys)", runs)
		}
	})
}
