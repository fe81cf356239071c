package sso

import (
	"context"
	"time"

	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// IssueCASTicketsForBench stores n CAS service tickets for the session p to the CAS client
// admitting service, valid for ttl, in one transaction (benchmark fixtures: issuing each
// through /cas/login would dominate the run).
func (s *Service) IssueCASTicketsForBench(ctx context.Context, p *iam.Principal, service string, n int, ttl time.Duration) ([]string, error) {
	c, err := s.casClientFor(ctx, service)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		pid, err := store.InsertID(ctx, tx, `INSERT INTO sso_participants (session_id, user_id, protocol, client_id, sid, service, created_at)
			VALUES (?, ?, 'cas', ?, ?, ?, ?)`, p.SessionID, p.UserID, c.ClientID, randomID(16), service, now)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			t := "ST-" + randomID(32)
			if _, err := tx.Exec(ctx, `INSERT INTO sso_tickets (ticket_hash, kind, client_id, service, user_id, session_id, participant, fresh, created_at, expires_at)
				VALUES (?, 'cas', ?, ?, ?, ?, ?, FALSE, ?, ?)`, hashToken(t), c.ClientID, service, p.UserID, p.SessionID, pid, now, now.Add(ttl)); err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}
