package agent

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// NewLog returns a log for [Config.Log] that writes to w: one line a
// write, each whole. For the journal (under systemd, JOURNAL_STREAM set)
// a line starts with its syslog priority, <N>, which the journal takes
// off and keeps.
func NewLog(w io.Writer, journal bool) func(Priority, string) {
	var mu sync.Mutex
	return func(p Priority, line string) {
		var b strings.Builder
		if journal {
			fmt.Fprintf(&b, "<%d>", p)
		}
		b.WriteString("qfw agent: ")
		switch p {
		case Error:
			b.WriteString("error: ")
		case Warning:
			b.WriteString("warning: ")
		}
		// One event, one line: a value with a newline cannot split it.
		b.WriteString(strings.ReplaceAll(line, "\n", `\n`))
		b.WriteByte('\n')
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, b.String())
	}
}
