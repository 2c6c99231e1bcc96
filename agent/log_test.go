package agent

import (
	"bytes"
	"testing"
)

// TestLog: one line a call, a newline in the text cannot split it,
// and under systemd each line starts with its syslog priority.
func TestLog(t *testing.T) {
	for _, tt := range []struct {
		journal string
		want    string
	}{
		{"", "qfw agent: start: table applied\nqfw agent: warning: a\\nb\nqfw agent: error: 10.137.0.5: list refused\n"},
		{"8:123", "<6>qfw agent: start: table applied\n<4>qfw agent: warning: a\\nb\n<3>qfw agent: error: 10.137.0.5: list refused\n"},
	} {
		var b bytes.Buffer
		log := NewLog(&b, tt.journal != "")
		log(Info, "start: table applied")
		log(Warning, "a\nb")
		log(Error, "10.137.0.5: list refused")
		if b.String() != tt.want {
			t.Errorf("JOURNAL_STREAM=%q: log\n%s\nwant\n%s", tt.journal, b.String(), tt.want)
		}
	}
}
