package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ledgerFile is what a load acknowledged, kept past the run (--ledger-out)
// so that its audit can be run again later against another server: the
// same database restored from a backup, say (--audit-ledger).
type ledgerFile struct {
	Version int    `json:"version"`
	Prefix  string `json:"prefix"`
	// From and To bound the nights the load asked for (To exclusive).
	From    date          `json:"from"`
	To      date          `json:"to"`
	Touched []ledgerRT    `json:"touched"`
	Entries []ledgerEntry `json:"entries"`
	// Unknown counts creates whose outcome the load never learned.
	Unknown int64 `json:"unknown_creates"`
}

type ledgerRT struct {
	Property string `json:"property"`
	RoomType string `json:"room_type"`
}

type ledgerEntry struct {
	ID        string `json:"id"`
	Property  string `json:"property"`
	Ref       string `json:"external_ref"`
	Stays     []stay `json:"stays"`
	Uncertain bool   `json:"uncertain,omitempty"`
	// Cancel: "" (not cancelled), "maybe" or "cancelled".
	Cancel string `json:"cancel,omitempty"`
}

const ledgerVersion = 1

var cancelNames = map[cancelState]string{notCancelled: "", maybeCancelled: "maybe", cancelled: "cancelled"}

// writeLedgerFile writes what e's load acknowledged to name.
func writeLedgerFile(name string, e *Env) error {
	lf := ledgerFile{Version: ledgerVersion, Prefix: e.cfg.Prefix}
	e.mu.Lock()
	lf.From, lf.To = e.minDate, e.maxDate
	for k := range e.touched {
		lf.Touched = append(lf.Touched, ledgerRT{k.property, k.roomType})
	}
	e.mu.Unlock()
	e.ledger.mu.Lock()
	lf.Unknown = e.ledger.unknown
	e.ledger.mu.Unlock()
	for _, en := range e.ledger.entries() {
		e.ledger.mu.Lock() // entries' fields change under the ledger's lock
		lf.Entries = append(lf.Entries, ledgerEntry{ID: en.id, Property: en.property, Ref: en.ref,
			Stays: append([]stay(nil), en.stays...), Uncertain: en.uncertain, Cancel: cancelNames[en.cancel]})
		e.ledger.mu.Unlock()
	}
	return writeFile(name, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return enc.Encode(lf)
	})
}

// readLedgerFile loads a ledger file into a fresh Env for cfg.
func readLedgerFile(ctx context.Context, name string, cfg Config) (*Env, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: --audit-ledger: %v", ErrConfig, err)
	}
	var lf ledgerFile
	if err := json.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("%w: --audit-ledger %s: %v", ErrConfig, name, err)
	}
	if lf.Version != ledgerVersion {
		return nil, fmt.Errorf("%w: --audit-ledger %s: version %d, want %d", ErrConfig, name, lf.Version, ledgerVersion)
	}
	cfg.Prefix = lf.Prefix
	e := newEnv(ctx, cfg)
	e.minDate, e.maxDate = lf.From, lf.To
	for _, rt := range lf.Touched {
		e.touched[rtKey{rt.Property, rt.RoomType}] = true
	}
	e.ledger.unknown = lf.Unknown
	for _, le := range lf.Entries {
		en := e.ledger.add(le.Property, le.Ref, reservation{ID: le.ID, Stays: le.Stays})
		en.uncertain = le.Uncertain
		for st, n := range cancelNames {
			if n == le.Cancel {
				en.cancel = st
			}
		}
	}
	return e, nil
}

// auditLedgers re-runs the audit of earlier loads, one ledger file at a
// time, against cfg's targets; nothing is loaded.
func auditLedgers(ctx context.Context, cfg Config, out io.Writer) (Report, error) {
	rep := Report{Scenario: "audit", Targets: cfg.Targets}
	var errs []error
	for _, name := range cfg.AuditLedgers {
		e, err := readLedgerFile(ctx, name, cfg)
		if err != nil {
			return rep, err
		}
		fmt.Fprintf(out, "audit of %s (prefix %s, %d acknowledged) against %s …\n", name, e.cfg.Prefix,
			len(e.ledger.order), strings.Join(cfg.Targets, ", "))
		a := audit(ctx, e)
		e.client.close()
		var b strings.Builder
		a.writeText(&b)
		fmt.Fprint(out, b.String())
		if n := a.Problems(); n > 0 {
			errs = append(errs, fmt.Errorf("%w: %s: %d problem(s)", ErrAudit, name, n))
		}
		rep.Audit = a
	}
	rep.Passed = len(errs) == 0
	return rep, errors.Join(errs...)
}
