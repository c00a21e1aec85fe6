package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DBFile is the database in the state directory.
const DBFile = "raftdrill.db"

var (
	runsBucket    = []byte("runs")
	outboxBucket  = []byte("outbox")
	journalBucket = []byte("journal")
)

// Store is an open state directory: its lock held, its database open.
type Store struct {
	dir  string
	lock *os.File // nil for a read-only store
	db   *bolt.DB
}

// Open takes the state directory dir for h (creating it if need be) and
// opens its database. It fails with a *LockedError when another process
// holds it.
func Open(dir string, h Holder) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state.dir %s: %w", dir, err)
	}
	lf, err := lock(dir, h)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("state.dir %s: open %s: %w", dir, DBFile, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{runsBucket, outboxBucket, journalBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		lf.Close()
		return nil, fmt.Errorf("state.dir %s: %w", dir, err)
	}
	return &Store{dir: dir, lock: lf, db: db}, nil
}

// OpenReadOnly opens the database of a state directory nobody holds, to
// look at it (tests, tools). It takes no lock; bbolt's own shared lock
// keeps a writer out while it is open.
func OpenReadOnly(dir string) (*Store, error) {
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o640, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("state.dir %s: open %s read-only: %w", dir, DBFile, err)
	}
	return &Store{dir: dir, db: db}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the database and releases the directory.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Runs is the run history.
func (s *Store) Runs() *Runs { return &Runs{db: s.db} }

// Outbox is the durable alert outbox.
func (s *Store) Outbox() *Outbox { return &Outbox{db: s.db} }

// Journal is the restore journal.
func (s *Store) Journal() *Journal { return &Journal{db: s.db} }

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}
