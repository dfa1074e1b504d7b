package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Secrets are stored sealed with AES-256-GCM under a key of the data root,
// Root/secrets/key (the directory 0700, the file 0600, both root's), made
// on first use. Each secret has its own random nonce, stored before the
// ciphertext, and its ID as additional data: a sealed value moved to
// another record does not open.

const secretKeySize = 32

// secretsDir is the directory of the key.
func (e *Engine) secretsDir() string { return filepath.Join(e.opts.Root, "secrets") }

// secretKey reads the key, making it when there is none yet. Two
// processes making it at once agree: the key is linked into place, so
// the second one reads the first one's.
func (e *Engine) secretKey() ([]byte, error) {
	dir := e.secretsDir()
	path := filepath.Join(dir, "key")
	if key, err := readSecretKey(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the secrets directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the secrets directory: %w", err)
	}
	key := make([]byte, secretKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make the secrets key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".key-")
	if err != nil {
		return nil, fmt.Errorf("make the secrets key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return readSecretKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("make the secrets key %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return key, nil
}

func readSecretKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the secrets key: %w", err)
	}
	if len(key) != secretKeySize {
		return nil, fmt.Errorf("the secrets key %s is %d bytes, not %d: it is damaged", path, len(key), secretKeySize)
	}
	return key, nil
}

func secretAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealSecret encrypts the data of secret id: nonce || ciphertext.
func sealSecret(key []byte, id string, data []byte) ([]byte, error) {
	aead, err := secretAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("encrypt secret %s: %w", id, err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(data)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt secret %s: %w", id, err)
	}
	return aead.Seal(nonce, nonce, data, []byte(id)), nil
}

// openSecret decrypts what sealSecret made for secret id.
func openSecret(key []byte, id string, sealed []byte) ([]byte, error) {
	aead, err := secretAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("decrypt secret %s: %w", id, err)
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("secret %s: %w", id, errSecretOpen)
	}
	data, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", id, errSecretOpen)
	}
	return data, nil
}
