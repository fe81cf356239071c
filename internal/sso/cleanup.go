package sso

import (
	"context"
	"time"
)

// Cleanup deletes protocol state nobody can use any more: expired authorization requests,
// tickets and login states, tokens a day after expiry, delivered or abandoned logout notices
// after a week, ended participations and inbound sessions after 30 days (their records stay
// in the audit log), and signing keys that left the JWKS.
func (s *Service) Cleanup(ctx context.Context) (int64, error) {
	now := s.now()
	day, week, month := now.Add(-24*time.Hour), now.Add(-7*24*time.Hour), now.Add(-30*24*time.Hour)
	var total int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM sso_auth_requests WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM sso_tickets WHERE expires_at < ?`, []any{day}},
		{`DELETE FROM sso_states WHERE expires_at < ?`, []any{now}},
		{`DELETE FROM sso_tokens WHERE expires_at < ?`, []any{day}},
		{`DELETE FROM sso_logout_queue WHERE (done_at IS NOT NULL AND done_at < ?) OR (done_at IS NULL AND attempts >= ? AND created_at < ?)`, []any{week, maxLogoutAttempts, week}},
		{`DELETE FROM sso_participants WHERE ended_at IS NOT NULL AND ended_at < ?`, []any{month}},
		{`DELETE FROM sso_inbound_sessions WHERE ended_at IS NOT NULL AND ended_at < ?`, []any{month}},
		{`DELETE FROM sso_signing_keys WHERE expires_at IS NOT NULL AND expires_at < ?`, []any{now}},
	} {
		res, err := s.db.Exec(ctx, q.sql, q.args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
