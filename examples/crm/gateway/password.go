package gateway

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Password hashes of the employees' sign-in (Config.Passwords, the
// configuration file's employees[].password_hash): PBKDF2 with
// HMAC-SHA-256, written "pbkdf2-sha256$<iterations>$<salt>$<key>" with
// the salt and the 32-byte key in unpadded base64 (standard alphabet).
// crm -hash-password makes one.
const (
	passwordScheme = "pbkdf2-sha256"
	// PasswordIterations is the iteration count of the hashes
	// -hash-password makes (OWASP's recommendation for PBKDF2-SHA-256).
	PasswordIterations = 600_000
	// MinPasswordIterations is the fewest iterations a configured hash
	// may have.
	MinPasswordIterations = 10_000
	// maxPasswordIterations bounds the work one sign-in may cost.
	maxPasswordIterations = 10_000_000
	passwordKeyLen        = 32
	// maxPasswordLen bounds a password given to sign in.
	maxPasswordLen = 1024
)

// HashPassword returns the PBKDF2 hash of password for the configuration
// file, with a random salt and PasswordIterations iterations.
func HashPassword(password string) (string, error) {
	return hashPassword(password, PasswordIterations)
}

// hashPassword is HashPassword with iter iterations.
func hashPassword(password string, iter int) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	if len(password) > maxPasswordLen {
		return "", fmt.Errorf("the password is longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand)
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, passwordKeyLen)
	if err != nil {
		return "", fmt.Errorf("password hash: %w", err)
	}
	enc := base64.RawStdEncoding
	return passwordScheme + "$" + strconv.Itoa(iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

// passwordHash is a parsed password hash.
type passwordHash struct {
	iter      int
	salt, key []byte
}

// parsePasswordHash reads a hash of HashPassword's form; the error says
// what is wrong without repeating the hash.
func parsePasswordHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != passwordScheme {
		return passwordHash{}, errors.New("not a password hash of the form pbkdf2-sha256$<iterations>$<salt>$<key> (make one with crm -hash-password)")
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinPasswordIterations || iter > maxPasswordIterations {
		return passwordHash{}, fmt.Errorf("the iterations are not a number from %d to %d", MinPasswordIterations, maxPasswordIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return passwordHash{}, errors.New("the salt is not base64 of at least 8 bytes")
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != passwordKeyLen {
		return passwordHash{}, fmt.Errorf("the key is not base64 of %d bytes", passwordKeyLen)
	}
	return passwordHash{iter: iter, salt: salt, key: key}, nil
}

// matches reports whether password is the hashed one, in time that does
// not depend on where they differ.
func (h passwordHash) matches(password string) bool {
	if len(password) > maxPasswordLen {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, h.salt, h.iter, passwordKeyLen)
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}
