// Package gm holds the national (商用密码) algorithms zhsj uses: SM3 hashing, HMAC-SM3,
// PBKDF2-HMAC-SM3 password hashes and SM4-GCM field sealing. Keys live behind the Keyring
// interface so that a hardware security module (GM/T 0018 SDF) can replace the software keys
// without touching callers.
package gm

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

// Keyring performs keyed operations without handing out key material.
type Keyring interface {
	// Seal encrypts plaintext with SM4-GCM under the key for purpose; the result carries the
	// nonce and is bound to purpose (used as additional data).
	Seal(purpose string, plaintext []byte) ([]byte, error)
	// Open reverses Seal.
	Open(purpose string, sealed []byte) ([]byte, error)
	// MAC returns HMAC-SM3 of data under the key for purpose.
	MAC(purpose string, data []byte) []byte
}

// Purposes of derived keys. A new purpose gives a new independent key.
const (
	PurposePhone   = "field.phone"
	PurposeIDNo    = "field.idno"
	PurposeAudit   = "audit.chain"
	PurposeSession = "session"
)

// SoftKeyring derives per-purpose keys from one master key with HMAC-SM3. The derived keys,
// the SM4-GCM ciphers and the HMAC states are computed once per purpose and kept (a bulk load
// seals and indexes hundreds of thousands of values); it is safe for concurrent use.
type SoftKeyring struct {
	master []byte
	keys   sync.Map // purpose → *purposeKeys
}

// purposeKeys is what one purpose needs, derived once.
type purposeKeys struct {
	once    sync.Once
	err     error
	derived []byte
	aeads   sync.Pool // cipher.AEAD under derived[:16]
	macs    sync.Pool // hash.Hash: HMAC-SM3 under derived
}

// NewSoftKeyring returns a software keyring; the master key must be at least 32 bytes.
func NewSoftKeyring(master []byte) (*SoftKeyring, error) {
	if len(master) < 32 {
		return nil, errors.New("主密钥长度不足 32 字节")
	}
	return &SoftKeyring{master: append([]byte(nil), master...)}, nil
}

func (k *SoftKeyring) derive(purpose string) []byte {
	m := hmac.New(sm3.New, k.master)
	m.Write([]byte("zhsj/" + purpose))
	return m.Sum(nil)
}

// forPurpose returns the cached keys of purpose, deriving them on first use.
func (k *SoftKeyring) forPurpose(purpose string) (*purposeKeys, error) {
	v, ok := k.keys.Load(purpose)
	if !ok {
		v, _ = k.keys.LoadOrStore(purpose, &purposeKeys{})
	}
	pk := v.(*purposeKeys)
	pk.once.Do(func() {
		pk.derived = k.derive(purpose)
		key := pk.derived
		pk.aeads.New = func() any {
			block, err := sm4.NewCipher(key[:16])
			if err != nil {
				return err
			}
			g, err := cipher.NewGCM(block)
			if err != nil {
				return err
			}
			return g
		}
		pk.macs.New = func() any { return hmac.New(sm3.New, key) }
		// Check once that the cipher can be built, so that errors surface here.
		switch x := pk.aeads.Get().(type) {
		case error:
			pk.err = x
		default:
			pk.aeads.Put(x)
		}
	})
	return pk, pk.err
}

func (pk *purposeKeys) aead() (cipher.AEAD, error) {
	switch x := pk.aeads.Get().(type) {
	case error:
		return nil, x
	default:
		return x.(cipher.AEAD), nil
	}
}

// Seal implements Keyring.
func (k *SoftKeyring) Seal(purpose string, plaintext []byte) ([]byte, error) {
	pk, err := k.forPurpose(purpose)
	if err != nil {
		return nil, err
	}
	g, err := pk.aead()
	if err != nil {
		return nil, err
	}
	defer pk.aeads.Put(g)
	ns := g.NonceSize()
	out := make([]byte, ns, ns+len(plaintext)+g.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return g.Seal(out, out, plaintext, []byte(purpose)), nil
}

// Open implements Keyring.
func (k *SoftKeyring) Open(purpose string, sealed []byte) ([]byte, error) {
	pk, err := k.forPurpose(purpose)
	if err != nil {
		return nil, err
	}
	g, err := pk.aead()
	if err != nil {
		return nil, err
	}
	defer pk.aeads.Put(g)
	if len(sealed) < g.NonceSize() {
		return nil, errors.New("密文长度错误")
	}
	return g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(purpose))
}

// MAC implements Keyring.
func (k *SoftKeyring) MAC(purpose string, data []byte) []byte {
	pk, err := k.forPurpose(purpose)
	if err != nil {
		// Only the cipher can fail; the MAC key is derived anyway.
		m := hmac.New(sm3.New, k.derive(purpose))
		m.Write(data)
		return m.Sum(nil)
	}
	m := pk.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(data)
	sum := m.Sum(nil)
	pk.macs.Put(m)
	return sum
}

// BlindIndex is the hex HMAC-SM3 used to look up a sealed field by its exact value.
func BlindIndex(k Keyring, purpose, value string) string {
	return hex.EncodeToString(k.MAC(purpose+".index", []byte(value)))
}

// SM3 returns the SM3 digest of data.
func SM3(data []byte) []byte {
	s := sm3.Sum(data)
	return s[:]
}

// SM3Hex returns the hex SM3 digest of s.
func SM3Hex(s string) string { return hex.EncodeToString(SM3([]byte(s))) }

// NewSM3 returns a new SM3 hash.Hash.
func NewSM3() hash.Hash { return sm3.New() }

// HMACSM3 returns HMAC-SM3(key, data).
func HMACSM3(key, data []byte) []byte {
	m := hmac.New(sm3.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// RandomToken returns a URL-safe random token carrying 256 bits.
func RandomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Equal compares two byte strings in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
