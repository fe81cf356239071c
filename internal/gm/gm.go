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

// SoftKeyring derives per-purpose keys from one master key with HMAC-SM3.
type SoftKeyring struct {
	master []byte
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

func (k *SoftKeyring) aead(purpose string) (cipher.AEAD, error) {
	block, err := sm4.NewCipher(k.derive(purpose)[:16])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal implements Keyring.
func (k *SoftKeyring) Seal(purpose string, plaintext []byte) ([]byte, error) {
	g, err := k.aead(purpose)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, plaintext, []byte(purpose)), nil
}

// Open implements Keyring.
func (k *SoftKeyring) Open(purpose string, sealed []byte) ([]byte, error) {
	g, err := k.aead(purpose)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize() {
		return nil, errors.New("密文长度错误")
	}
	return g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(purpose))
}

// MAC implements Keyring.
func (k *SoftKeyring) MAC(purpose string, data []byte) []byte {
	m := hmac.New(sm3.New, k.derive(purpose))
	m.Write(data)
	return m.Sum(nil)
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
