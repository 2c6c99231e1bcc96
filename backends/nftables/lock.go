package nftables

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// lockDir holds the lock files, one per network namespace.
var lockDir = "/run/qfw"

// lockWait bounds the wait for another change to the same firewall.
var lockWait = 60 * time.Second

// withLock runs fn holding the lock of the network namespace netns (the
// process's own if netns is nil), which every function that changes the
// kernel's tables or connections takes for its whole length: two changes
// at once would each read back the other's table, and take it for a
// failure. The lock is an flock on a file under /run/qfw named by the
// namespace's inode, so that processes that name the namespace
// differently (a path under /run/netns, /proc/PID/ns/net, their own) still
// meet on it, and a process killed while holding it lets go of it. It
// waits at most lockWait for the lock, then fails without running fn.
func withLock(netns *os.File, fn func() error) error {
	f, err := openLock(netns)
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(lockWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another qfw has been changing this firewall for over %g seconds (it holds %s); nothing was changed", lockWait.Seconds(), f.Name())
		}
		time.Sleep(delay)
	}
	// Closing the file lets go of the lock.
	return fn()
}

// openLock opens the lock file of netns, making it and its directory if
// need be. The directory must be root's (or the caller's) and closed to
// others: a lock file that someone else could replace would lock nothing.
func openLock(netns *os.File) (*os.File, error) {
	var st unix.Stat_t
	if netns != nil {
		if err := unix.Fstat(int(netns.Fd()), &st); err != nil {
			return nil, fmt.Errorf("network namespace %s: %w", netns.Name(), err)
		}
	} else if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	if err := os.Mkdir(lockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	var dir unix.Stat_t
	if err := unix.Lstat(lockDir, &dir); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	if dir.Mode&unix.S_IFMT != unix.S_IFDIR || dir.Uid != uint32(os.Geteuid()) || dir.Mode&0o022 != 0 {
		return nil, fmt.Errorf("lock directory %s: not a directory of this user's that only it may write to", lockDir)
	}
	name := filepath.Join(lockDir, "netns-"+strconv.FormatUint(st.Ino, 10)+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
