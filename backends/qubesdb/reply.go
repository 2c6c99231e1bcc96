package qubesdb

import (
	"errors"
	"slices"
	"strings"
)

// op is one request: its command type and the path sent with it.
type op struct {
	typ  byte
	path string
}

// entryType is the reply type of one entry of a MULTIREAD or LIST reply,
// or 0 for the requests answered by a single message.
func (o op) entryType() byte {
	switch o.typ {
	case cmdMultiRead:
		return respMulti
	case cmdList:
		return respList
	}
	return 0
}

// last reports whether f ends the reply to o. A MULTIREAD or LIST reply is
// a series of entries ended by a marker whose path's first byte is NUL (the
// rest of the field still holds an earlier path); any other message, such
// as RESP_ERROR, is a whole reply.
func (o op) last(f frame) bool {
	t := o.entryType()
	return t == 0 || f.typ != t || f.path == ""
}

// reply is what a request's messages say, once checked.
type reply struct {
	value   []byte   // READ
	entries []Entry  // MULTIREAD, sorted by Path
	paths   []string // LIST, sorted
}

// errRefused is the daemon's RESP_ERROR.
var errRefused = errors.New("refused by the daemon")

// interpret checks the messages of o's reply and turns them into a result.
// frames ends with the message for which o.last is true (the reader stops
// there). Any message that o could not have caused is a protocol
// violation: the daemon's reply echoes the request's header, so a single
// reply names the request's path, and entries lie within the prefix.
func interpret(o op, frames []frame) (reply, error) {
	if len(frames) == 0 || !o.last(frames[len(frames)-1]) {
		return reply{}, protocolErr("reply to %s ended early", typeName(o.typ))
	}
	if o.entryType() != 0 {
		return interpretEntries(o, frames)
	}
	f := frames[0]
	if len(frames) != 1 {
		return reply{}, protocolErr("%s answered with %d messages", typeName(o.typ), len(frames))
	}
	if f.path != o.path {
		return reply{}, protocolErr("%s of %q answered for %q", typeName(o.typ), o.path, f.path)
	}
	if f.typ != respRead && len(f.data) != 0 {
		return reply{}, protocolErr("%s carries %d bytes of data", typeName(f.typ), len(f.data))
	}
	switch {
	case f.typ == respError:
		return reply{}, errRefused
	case f.typ == respNoEnt && (o.typ == cmdRead || o.typ == cmdUnwatch):
		return reply{}, ErrNotFound
	case f.typ == respNoEnt && o.typ == cmdRm:
		return reply{}, nil // already gone: what the caller wants
	case f.typ == respRead && o.typ == cmdRead:
		if err := checkValue(f.data); err != nil {
			return reply{}, protocolErr("RESP_READ of %q: %v", o.path, err)
		}
		return reply{value: f.data}, nil
	case f.typ == respOK && o.typ != cmdRead:
		return reply{}, nil
	}
	return reply{}, protocolErr("%s answered with %s", typeName(o.typ), typeName(f.typ))
}

func interpretEntries(o op, frames []frame) (reply, error) {
	end := frames[len(frames)-1]
	if end.typ == respError && len(frames) == 1 {
		if len(end.data) != 0 {
			return reply{}, protocolErr("RESP_ERROR carries %d bytes of data", len(end.data))
		}
		return reply{}, errRefused
	}
	if end.typ != o.entryType() {
		return reply{}, protocolErr("%s answered with %s", typeName(o.typ), typeName(end.typ))
	}
	if len(end.data) != 0 {
		return reply{}, protocolErr("the end marker of %s carries %d bytes of data", typeName(o.typ), len(end.data))
	}
	var r reply
	for _, f := range frames[:len(frames)-1] {
		if !strings.HasPrefix(f.path, o.path) {
			return reply{}, protocolErr("%s of %q answered with %q", typeName(o.typ), o.path, f.path)
		}
		if err := checkPath(f.path); err != nil {
			return reply{}, protocolErr("%s entry %q: %v", typeName(o.typ), f.path, err)
		}
		if o.typ == cmdList {
			if len(f.data) != 0 {
				return reply{}, protocolErr("RESP_LIST entry %q carries %d bytes of data", f.path, len(f.data))
			}
			r.paths = append(r.paths, f.path)
			continue
		}
		if err := checkValue(f.data); err != nil {
			return reply{}, protocolErr("RESP_MULTIREAD entry %q: %v", f.path, err)
		}
		r.entries = append(r.entries, Entry{Path: f.path, Value: f.data})
	}
	// The daemon sends strcmp order, reversed for the whole database:
	// sort here so that no caller depends on it.
	slices.Sort(r.paths)
	slices.SortFunc(r.entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(r.paths); i++ {
		if r.paths[i] == r.paths[i-1] {
			return reply{}, protocolErr("LIST of %q names %q twice", o.path, r.paths[i])
		}
	}
	for i := 1; i < len(r.entries); i++ {
		if r.entries[i].Path == r.entries[i-1].Path {
			return reply{}, protocolErr("MULTIREAD of %q names %q twice", o.path, r.entries[i].Path)
		}
	}
	return r, nil
}

// watchEvent checks a RESP_WATCH: it names a path and carries no data.
func watchEvent(f frame) (Event, error) {
	if len(f.data) != 0 {
		return Event{}, protocolErr("RESP_WATCH carries %d bytes of data", len(f.data))
	}
	if err := checkPath(f.path); err != nil {
		return Event{}, protocolErr("RESP_WATCH for %q: %v", f.path, err)
	}
	return Event{Path: f.path}, nil
}
