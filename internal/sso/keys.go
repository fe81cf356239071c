package sso

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"zhsj/internal/audit"
	"zhsj/internal/store"
)

// purposeSigning seals the provider's private signing keys.
const purposeSigning = "sso.signing"

// Signing keys: ES256 (ECDSA P-256). SM2 is not a registered JOSE algorithm, so partner
// platforms could not verify it; ES256 is standard and fast enough for the token endpoint.
const signingAlg = jose.ES256

// SigningKeyInfo is a key as administrators see it (never the private part).
type SigningKeyInfo struct {
	KID       string     `db:"kid" json:"kid"`
	Alg       string     `db:"alg" json:"alg"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	RetiredAt *time.Time `db:"retired_at" json:"retired_at"`
	ExpiresAt *time.Time `db:"expires_at" json:"expires_at"`
	Active    bool       `db:"-" json:"active"`
}

type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return signingAlg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.kid }

type publicKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key any
}

func (k *publicKey) ID() string                         { return k.kid }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }

// keyRing caches the keys read from the database for a short time: several instances share
// the table, so a rotation on one reaches the others within keyCacheTTL, and the retired
// key stays published long enough for every token it signed.
type keyRing struct {
	s       *Service
	mu      sync.Mutex
	loaded  time.Time
	active  *signingKey
	public  []*publicKey
	refresh chan struct{}
}

const keyCacheTTL = 10 * time.Second

type keyRow struct {
	KID        string     `db:"kid"`
	Alg        string     `db:"alg"`
	PublicJWK  string     `db:"public_jwk"`
	PrivateEnc []byte     `db:"private_enc"`
	CreatedAt  time.Time  `db:"created_at"`
	RetiredAt  *time.Time `db:"retired_at"`
	ExpiresAt  *time.Time `db:"expires_at"`
}

func (kr *keyRing) get(ctx context.Context) (*signingKey, []*publicKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	now := kr.s.now()
	if kr.active != nil && now.Sub(kr.loaded) < keyCacheTTL {
		return kr.active, kr.public, nil
	}
	var rows []keyRow
	if err := kr.s.db.Select(ctx, &rows, `SELECT kid, alg, public_jwk, private_enc, created_at, retired_at, expires_at
		FROM sso_signing_keys WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at DESC, kid`, now); err != nil {
		return nil, nil, err
	}
	var active *signingKey
	var pub []*publicKey
	for _, r := range rows {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal([]byte(r.PublicJWK), &jwk); err != nil {
			return nil, nil, fmt.Errorf("签名公钥 %s 损坏: %w", r.KID, err)
		}
		pub = append(pub, &publicKey{kid: r.KID, alg: jose.SignatureAlgorithm(r.Alg), key: jwk.Key})
		if active == nil && r.RetiredAt == nil {
			der, err := kr.s.keys.Open(purposeSigning, r.PrivateEnc)
			if err != nil {
				return nil, nil, fmt.Errorf("签名私钥 %s 无法解封（主密钥不一致？）: %w", r.KID, err)
			}
			k, err := x509.ParseECPrivateKey(der)
			if err != nil {
				return nil, nil, err
			}
			active = &signingKey{kid: r.KID, priv: k}
		}
	}
	if active == nil {
		return nil, nil, errors.New("没有可用的签名密钥")
	}
	kr.active, kr.public, kr.loaded = active, pub, now
	return active, pub, nil
}

func (kr *keyRing) invalidate() {
	kr.mu.Lock()
	kr.active = nil
	kr.mu.Unlock()
}

// newKey creates a signing key row inside tx.
func (s *Service) newKey(ctx context.Context, tx *store.Tx) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return "", err
	}
	sealed, err := s.keys.Seal(purposeSigning, der)
	if err != nil {
		return "", err
	}
	var kb [12]byte
	rand.Read(kb[:])
	kid := hex.EncodeToString(kb[:])
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(signingAlg), Use: "sig"})
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO sso_signing_keys (kid, alg, public_jwk, private_enc, created_at) VALUES (?, ?, ?, ?, ?)`,
		kid, string(signingAlg), string(pub), sealed, s.now())
	return kid, err
}

// ensureKey creates the first signing key.
func (s *Service) ensureKey(ctx context.Context) error {
	var n int
	if err := s.db.Get(ctx, &n, `SELECT COUNT(*) FROM sso_signing_keys WHERE retired_at IS NULL`); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM sso_signing_keys WHERE retired_at IS NULL`); err != nil || n > 0 {
			return err
		}
		_, err := s.newKey(ctx, tx)
		return err
	})
}

// RotateKeys makes a new key the signing key. The previous one stops signing at once and
// stays in the JWKS for KeyOverlap, so tokens it signed keep verifying.
func (s *Service) RotateKeys(ctx context.Context, r *http.Request, reason string) (string, error) {
	var kid string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE sso_signing_keys SET retired_at = ?, expires_at = ? WHERE retired_at IS NULL`,
			now, now.Add(s.opt.KeyOverlap)); err != nil {
			return err
		}
		var err error
		if kid, err = s.newKey(ctx, tx); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.key.rotate", ObjectType: "sso_signing_key", ObjectID: kid,
			Result: "success", Detail: "轮换 OpenID 签名密钥：" + reason})
	})
	s.signing.invalidate()
	return kid, err
}

// RotateIfDue rotates when the signing key is older than KeyRotation (the daily job).
func (s *Service) RotateIfDue(ctx context.Context) (bool, error) {
	var created time.Time
	err := s.db.Get(ctx, &created, `SELECT created_at FROM sso_signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1`)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if err == nil && s.now().Sub(created) < s.opt.KeyRotation {
		return false, nil
	}
	_, err = s.RotateKeys(ctx, nil, "定期轮换")
	return err == nil, err
}

// ListKeys returns the keys still published.
func (s *Service) ListKeys(ctx context.Context) ([]SigningKeyInfo, error) {
	var out []SigningKeyInfo
	err := s.db.Select(ctx, &out, `SELECT kid, alg, created_at, retired_at, expires_at FROM sso_signing_keys
		WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at DESC`, s.now())
	for i := range out {
		out[i].Active = out[i].RetiredAt == nil
	}
	return out, err
}
