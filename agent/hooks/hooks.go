package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The hooks' places, relative to the root.
const (
	SystemDir     = "etc/qubes/qubes-firewall.d"
	UserDir       = "rw/config/qubes-firewall.d"
	UserScript    = "rw/config/qubes-firewall-user-script"
	CustomPersist = "var/run/qubes-service/custom-persist"
)

// Config says where the hooks are.
type Config struct {
	// Root is the file system root the hooks' places are under: "/" in
	// production, a temporary directory in tests. It is also the hooks'
	// working directory.
	Root string
	// Output receives the hooks' standard output and error; nil means the
	// process's own, which systemd sends to the journal.
	Output io.Writer
}

// outputGrace is how long Run waits, once a hook has exited, for the
// processes it left running in the background to close Output: a user
// script that starts a daemon must not hold up the agent's start.
const outputGrace = time.Second

// Run runs the hooks, in the stock service's order, and reports through
// log each hook that failed, each file it passed over, and each hook
// directory it could not read. None of these stops the other hooks. Run
// returns an error only when ctx ends before the hooks do; the hook
// running then is killed.
func Run(ctx context.Context, cfg Config, log func(string)) error {
	if cfg.Root == "" {
		return errors.New("hooks: no root directory")
	}
	// Absolute, as exec reads a relative hook path from the hook's working
	// directory, the root.
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return fmt.Errorf("hooks: %w", err)
	}
	cfg.Root = root
	var paths []string
	dirs := []string{SystemDir}
	_, err = os.Stat(filepath.Join(root, CustomPersist))
	switch {
	case err == nil:
		log(fmt.Sprintf("custom-persist is on: not running /%s and /%s", UserDir, UserScript))
	case errors.Is(err, fs.ErrNotExist):
		dirs = append(dirs, UserDir)
	default:
		// Whether /rw/config may be trusted is not known: it may not.
		log(fmt.Sprintf("not running /%s and /%s: %v", UserDir, UserScript, err))
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			log(fmt.Sprintf("hooks in %s: %v", filepath.Join(root, dir), err))
			continue
		}
		// ReadDir sorts by name, byte by byte: for UTF-8 names the order
		// of the stock service's sorted().
		for _, e := range entries {
			paths = append(paths, filepath.Join(root, dir, e.Name()))
		}
	}
	if len(dirs) == 2 {
		if _, err := os.Lstat(filepath.Join(root, UserScript)); err == nil {
			paths = append(paths, filepath.Join(root, UserScript))
		}
	}
	for _, path := range paths {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hooks: %w", err)
		}
		if why := notRunnable(path); why != "" {
			log(fmt.Sprintf("hook %s: skipped: %s", path, why))
			continue
		}
		if err := run(ctx, path, &cfg); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("hooks: %s: %w", path, ctx.Err())
			}
			log(fmt.Sprintf("hook %s failed: %v", path, err))
		}
	}
	return nil
}

// notRunnable says why path is not a hook to run, or "" if it is: an
// executable regular file, links followed, as the stock service's
// os.path.isfile and os.access(X_OK) decide.
func notRunnable(path string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return "not a regular file"
	case unix.Access(path, unix.X_OK) != nil:
		return "not executable"
	}
	return ""
}

func run(ctx context.Context, path string, cfg *Config) error {
	cmd := exec.CommandContext(ctx, path)
	cmd.Dir = cfg.Root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if cfg.Output != nil {
		cmd.Stdout, cmd.Stderr = cfg.Output, cfg.Output
		cmd.WaitDelay = outputGrace
	}
	err := cmd.Run()
	var pe *fs.PathError
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		// The hook itself succeeded; what it left running keeps the
		// output open.
		return nil
	case errors.As(err, &pe):
		// Not started: a script without a "#!" line, a missing
		// interpreter.
		return fmt.Errorf("cannot start it: %w", pe.Err)
	}
	return err
}
