package gm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestSM3StandardVector(t *testing.T) {
	// GB/T 32905-2016 appendix A.1
	if got := SM3Hex("abc"); got != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" {
		t.Fatalf("SM3(abc) = %s", got)
	}
}

func TestSealOpenAndBlindIndex(t *testing.T) {
	k, err := NewSoftKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := k.Seal(PurposePhone, []byte("13800138000"))
	c2, _ := k.Seal(PurposePhone, []byte("13800138000"))
	if bytes.Equal(c1, c2) {
		t.Fatal("two seals of the same value are equal: nonce reused")
	}
	p, err := k.Open(PurposePhone, c1)
	if err != nil || string(p) != "13800138000" {
		t.Fatalf("open: %q %v", p, err)
	}
	if _, err := k.Open(PurposeIDNo, c1); err == nil {
		t.Fatal("opened with a different purpose")
	}
	c1[len(c1)-1] ^= 1
	if _, err := k.Open(PurposePhone, c1); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	if BlindIndex(k, PurposePhone, "13800138000") != BlindIndex(k, PurposePhone, "13800138000") {
		t.Fatal("blind index not deterministic")
	}
	if BlindIndex(k, PurposePhone, "13800138000") == BlindIndex(k, PurposePhone, "13800138001") {
		t.Fatal("blind index collision")
	}
	k2, _ := NewSoftKeyring(bytes.Repeat([]byte{8}, 32))
	if BlindIndex(k, PurposePhone, "1") == BlindIndex(k2, PurposePhone, "1") {
		t.Fatal("blind index independent of key")
	}
	if _, err := NewSoftKeyring([]byte("short")); err == nil {
		t.Fatal("short master key accepted")
	}
}

func TestHMACSM3(t *testing.T) {
	// Cross-check against a hand-built HMAC (RFC 2104) over SM3.
	key := []byte("key")
	data := []byte("The quick brown fox jumps over the lazy dog")
	ipad := make([]byte, 64)
	opad := make([]byte, 64)
	copy(ipad, key)
	copy(opad, key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	inner := SM3(append(ipad, data...))
	want := SM3(append(opad, inner...))
	if got := HMACSM3(key, data); !bytes.Equal(got, want) {
		t.Fatalf("HMAC-SM3 %x want %x", got, want)
	}
}

func TestPasswordHash(t *testing.T) {
	old := PasswordIterations
	PasswordIterations = 1000
	defer func() { PasswordIterations = old }()
	h, err := HashPassword("Zhsj@2026!x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "pbkdf2-sm3$1000$") {
		t.Fatalf("hash %q lacks algorithm id and iterations", h)
	}
	h2, _ := HashPassword("Zhsj@2026!x")
	if h == h2 {
		t.Fatal("same hash twice: salt not random")
	}
	ok, rehash, err := VerifyPassword(h, "Zhsj@2026!x")
	if !ok || rehash || err != nil {
		t.Fatalf("verify: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(h, "Zhsj@2026!y"); ok {
		t.Fatal("wrong password accepted")
	}
	PasswordIterations = 2000
	if ok, rehash, _ := VerifyPassword(h, "Zhsj@2026!x"); !ok || !rehash {
		t.Fatal("weaker hash not flagged for rehash")
	}
	if _, _, err := VerifyPassword("$2a$10$abc", "x"); err == nil {
		t.Fatal("foreign hash format accepted")
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("Zhsj@2026!x"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCachedKeysMatchDerivation checks that the cached per-purpose keys give exactly what a
// fresh derivation gives (blind indexes stored before the cache must still match), and that
// the keyring is safe for concurrent use.
func TestCachedKeysMatchDerivation(t *testing.T) {
	master := bytes.Repeat([]byte{9}, 32)
	k, _ := NewSoftKeyring(master)
	want := HMACSM3(HMACSM3(master, []byte("zhsj/"+PurposeIDNo+".index")), []byte("610102199001011234"))
	for i := 0; i < 3; i++ {
		if got := k.MAC(PurposeIDNo+".index", []byte("610102199001011234")); !bytes.Equal(got, want) {
			t.Fatalf("MAC call %d = %x, want %x", i, got, want)
		}
	}
	// A value sealed by one keyring opens with another built from the same master key.
	other, _ := NewSoftKeyring(master)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 200; i++ {
				msg := []byte(strings.Repeat("x", g+i))
				c, err := k.Seal(PurposePhone, msg)
				if err != nil {
					done <- err
					return
				}
				p, err := other.Open(PurposePhone, c)
				if err != nil || !bytes.Equal(p, msg) {
					done <- fmt.Errorf("open %d/%d: %q %v", g, i, p, err)
					return
				}
				if !bytes.Equal(k.MAC(PurposeIDNo+".index", []byte("610102199001011234")), want) {
					done <- fmt.Errorf("MAC changed under concurrent use")
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
