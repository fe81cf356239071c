package app_test

import (
	"context"
	"errors"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/audit"
	"zhsj/internal/jobs"
	"zhsj/internal/monitor"
	"zhsj/internal/store"
)

// TestPartitionsMaintained: on PostgreSQL the application makes the partitions of the audit
// log (this month and the next two) and of the raw samples (today and the next seven days)
// when it is built, and the daily job store.partitions makes again one that is missing. On
// SQLite there is nothing to maintain and no such job.
func TestPartitionsMaintained(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		if e.App.DB.Dialect() != store.Postgres {
			if _, err := e.App.Jobs.RunNow(ctx, "store.partitions", "test"); !errors.Is(err, jobs.ErrUnknownJob) {
				t.Fatalf("store.partitions on SQLite: %v", err)
			}
			return
		}
		months, err := audit.Partitions.Partitions(ctx, e.App.DB)
		if err != nil || len(months) != 3 {
			t.Fatalf("audit partitions %v %v, want 3 months", months, err)
		}
		days, err := monitor.SamplePartitions.Partitions(ctx, e.App.DB)
		if err != nil || len(days) != 8 {
			t.Fatalf("sample partitions %v %v, want 8 days", days, err)
		}
		next := "audit_log_p" + months[1].Format("200601")
		if _, err := e.App.DB.Exec(ctx, "DROP TABLE "+next); err != nil {
			t.Fatal(err)
		}
		if run := e.RunJob(ctx, "store.partitions"); run.Status != "succeeded" || run.Counts["created"] != 1 {
			t.Fatalf("job run %+v", run)
		}
		if again, _ := audit.Partitions.Partitions(ctx, e.App.DB); len(again) != 3 || !again[1].Equal(months[1]) {
			t.Fatalf("audit partitions after the job: %v", again)
		}
	})
}
