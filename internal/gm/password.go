package gm

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// PasswordIterations is the PBKDF2-HMAC-SM3 work factor for new hashes. It was tuned so one
// hash takes 30–150 ms on the reference machine (2 cores); see docs/benchmarks.md.
var PasswordIterations = 100000

// passwordAlg is stored with every hash so that the algorithm can be upgraded on login.
const passwordAlg = "pbkdf2-sm3"

// HashPassword returns "pbkdf2-sm3$iterations$salt$hash" with a fresh 16-byte salt.
func HashPassword(password string) (string, error) {
	return hashWith(password, PasswordIterations)
}

func hashWith(password string, iter int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	dk, err := pbkdf2.Key(sm3.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", passwordAlg, iter, enc.EncodeToString(salt), enc.EncodeToString(dk)), nil
}

// ErrBadHash means a stored hash cannot be parsed.
var ErrBadHash = errors.New("无法识别的口令散列格式")

// VerifyPassword checks password against an encoded hash. rehash is true when the hash uses
// weaker parameters than today's and should be replaced after a successful login.
func VerifyPassword(encoded, password string) (ok, rehash bool, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != passwordAlg {
		return false, false, ErrBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 {
		return false, false, ErrBadHash
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, false, ErrBadHash
	}
	got, err := pbkdf2.Key(sm3.New, password, salt, iter, len(want))
	if err != nil {
		return false, false, err
	}
	if !Equal(got, want) {
		return false, false, nil
	}
	return true, iter < PasswordIterations, nil
}
