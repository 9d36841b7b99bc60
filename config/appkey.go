package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AppKeyFile is the name of the generated development key under STORAGE_PATH.
const AppKeyFile = "app.key"

// EnsureLocalAppKey gives a local (APP_ENV=local) Config without APP_KEY
// the development key stored in STORAGE_PATH/app.key, generating it (32
// random bytes, mode 0600) the first time. Elsewhere, or when APP_KEY is
// set, it does nothing. Concurrent callers all end up with the same key.
func EnsureLocalAppKey(cfg *Config) error {
	if cfg.Env != EnvLocal || cfg.Key != "" {
		return nil
	}
	if err := os.MkdirAll(cfg.StoragePath, 0o700); err != nil {
		return fmt.Errorf("create STORAGE_PATH: %w", err)
	}
	path := filepath.Join(cfg.StoragePath, AppKeyFile)
	key, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = createKeyFile(path)
	}
	if err != nil {
		return err
	}
	cfg.Key = key
	return nil
}

func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if _, err := DecodeKey(key); err != nil {
		return "", fmt.Errorf("%s: %w (delete the file to generate a new one)", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to a temporary file and links it into
// place, so that the key file appears whole or not at all, and the first of
// several racing processes wins.
func createKeyFile(path string) (string, error) {
	raw := make([]byte, MinKeyBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate APP_KEY: %w", err)
	}
	key := "base64:" + base64.StdEncoding.EncodeToString(raw)

	tmp, err := os.CreateTemp(filepath.Dir(path), ".app.key-*")
	if err != nil {
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readKeyFile(path) // another process was first
		}
		return "", fmt.Errorf("store APP_KEY: %w", err)
	}
	return key, nil
}

// AppKeySource says, for people, where the signing key of cfg comes from
// without showing it: "(set, masked)" when APP_KEY is set, else (local)
// the generated key file under STORAGE_PATH, or that the first command
// that needs it will generate it there. It only reads.
func AppKeySource(cfg Config) string {
	switch {
	case cfg.Key != "":
		return "(set, masked)"
	case cfg.Env != EnvLocal:
		return "(not set)"
	}
	path := filepath.Join(cfg.StoragePath, AppKeyFile)
	if _, err := readKeyFile(path); err == nil {
		return "(generated, " + path + ")"
	} else if !errors.Is(err, os.ErrNotExist) {
		return "(unreadable: " + err.Error() + ")"
	}
	return "(not set: generated into " + path + " at first use)"
}
