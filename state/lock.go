package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFile is the advisory lock file in the state directory; its content
// says who holds it.
const LockFile = "raftdrill.lock"

// Holder says who owns a state directory: what the lock file holds.
type Holder struct {
	Command string    `json:"command"` // "serve" or "run leader-failover"
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Host    string    `json:"host"`
	// Listen is the HTTP address of a `raftdrill serve`, so that a command
	// that finds the directory held can ask the daemon instead.
	Listen string `json:"listen,omitempty"`
}

// Me describes this process running command.
func Me(command, listen string) Holder {
	host, _ := os.Hostname()
	return Holder{Command: command, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Second), Host: host, Listen: listen}
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "another process (the lock file does not say which)"
	}
	s := fmt.Sprintf("raftdrill %s (pid %d on host %s, since %s", h.Command, h.PID, h.Host, h.Started.Format(time.RFC3339))
	if h.Listen != "" {
		s += ", listening on " + h.Listen
	}
	return s + ")"
}

// LockedError is the error of a state directory another process holds.
type LockedError struct {
	Dir    string
	Holder Holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("state.dir %s is in use by %s: one raftdrill serve or run at a time may own a state directory, "+
		"so that two of them never drill the same cluster (use the daemon's POST /trigger instead of raftdrill run)", e.Dir, e.Holder)
}

// lock takes the advisory lock of dir for h, or returns a *LockedError
// naming who holds it. The lock ends when the file is closed (or the
// process dies: the kernel releases it, so a crash leaves no stale lock).
func lock(dir string, h Holder) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state.dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("state.dir %s: lock %s: %w", dir, path, err)
	}
	b, _ := json.Marshal(h)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state.dir %s: write %s: %w", dir, path, err)
	}
	return f, nil
}

// readHolder reads who holds the lock. The holder writes its name right
// after it took the lock, so an empty file is read again a few times.
func readHolder(path string) Holder {
	var h Holder
	for range 10 {
		b, err := os.ReadFile(path)
		if err == nil && strings.TrimSpace(string(b)) != "" && json.Unmarshal(b, &h) == nil {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h
}

// HeldBy returns who holds the state directory now, and false when nobody
// does.
func HeldBy(dir string) (Holder, bool) {
	path := filepath.Join(dir, LockFile)
	f, err := os.Open(path)
	if err != nil {
		return Holder{}, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Holder{}, false
	}
	return readHolder(path), true
}
