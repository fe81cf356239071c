package desk_test

import (
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/demo"
	"zhsj/internal/store/storetest"
)

// TestDemoSeed seeds the desk's demo data twice: the bureau approver, articles, trainings and
// tickets in every stage appear once.
func TestDemoSeed(t *testing.T) {
	e := newEnv(t, apptest.New(t, storetest.SQLite(t)))
	env := &demo.Env{DB: e.App.DB, IAM: e.App.IAM, Scale: demo.Small, NewPassword: func(string, string) string { return apptest.DefaultPassword },
		Modules: e.App.Seeders}
	for i := 0; i < 2; i++ {
		if _, err := demo.Seed(e.ctx, env); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	for q, want := range map[string]int{
		`SELECT COUNT(*) FROM users WHERE account = 'approver'`:         1,
		`SELECT COUNT(*) FROM desk_articles WHERE status = 'published'`: 8,
		`SELECT COUNT(*) FROM desk_trainings`:                           2,
		`SELECT COUNT(*) FROM desk_tickets`:                             12,
		`SELECT COUNT(DISTINCT state) FROM desk_tickets`:                7,
		`SELECT COUNT(*) FROM desk_problems`:                            1,
		`SELECT COUNT(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id WHERE r.code = 'bureau_approver' AND rp.permission = 'desk.approval.decide'`: 1,
	} {
		if n := e.count(q); n != want {
			t.Errorf("%s = %d, want %d", q, n, want)
		}
	}
}
