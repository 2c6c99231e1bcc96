package qubesdb

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzReply feeds the client's reply decoding whatever a daemon might
// send after a request: it must return an error or a result that keeps
// every promise of the API, and never panic.
func FuzzReply(f *testing.F) {
	cat := func(ms ...[]byte) []byte { return bytes.Join(ms, nil) }
	f.Add(byte(cmdRead), "/a", encode(respRead, "/a", []byte("v")))
	f.Add(byte(cmdRead), "/a", cat(encode(respWatch, "/a", nil), encode(respNoEnt, "/a", nil)))
	f.Add(byte(cmdWrite), "/a", encode(respOK, "/a", nil))
	f.Add(byte(cmdWrite), "/a", encode(respError, "/a", nil))
	f.Add(byte(cmdRm), "/a/", encode(respNoEnt, "/a/", nil))
	f.Add(byte(cmdWatch), "/a/", encode(respOK, "/a/", nil))
	f.Add(byte(cmdUnwatch), "/a/", encode(respNoEnt, "/a/", nil))
	f.Add(byte(cmdMultiRead), "/a/", cat(
		encode(respMulti, "/a/2", []byte("two")),
		encode(respWatch, "/a/1", nil),
		encode(respMulti, "/a/1", []byte("one")),
		encode(respMulti, "\x00a/1", nil)))
	f.Add(byte(cmdMultiRead), "", cat(encode(respMulti, "/b", nil), encode(respMulti, "/a", nil), encode(respMulti, "", nil)))
	f.Add(byte(cmdList), "/a", cat(encode(respList, "/a", nil), encode(respList, "/ab", nil), encode(respList, "", nil)))
	f.Add(byte(cmdList), "/a", encode(respError, "/a", nil))
	f.Fuzz(func(t *testing.T, typ byte, path string, stream []byte) {
		o := op{typ % (cmdUnwatch + 1), path}
		r := bytes.NewReader(stream)
		var frames []frame
		for {
			fr, err := readFrame(r)
			if err != nil {
				return
			}
			if fr.typ < respOK || fr.typ > respWatch || len(fr.data) > MaxValue || strings.IndexByte(fr.path, 0) >= 0 {
				t.Fatalf("readFrame let through %+v", fr)
			}
			if fr.typ == respWatch {
				ev, err := watchEvent(fr)
				if err == nil && (checkPath(ev.Path) != nil || ev.Reconnected) {
					t.Fatalf("watchEvent let through %+v", ev)
				}
				continue
			}
			frames = append(frames, fr)
			if o.last(fr) {
				break
			}
		}
		res, err := interpret(o, frames)
		if err != nil {
			return
		}
		if res.value != nil && (o.typ != cmdRead || checkValue(res.value) != nil) {
			t.Fatalf("%s gave the value %q", typeName(o.typ), res.value)
		}
		if !slices.IsSorted(res.paths) {
			t.Fatalf("LIST paths not sorted: %q", res.paths)
		}
		paths := slices.Clone(res.paths)
		for i, e := range res.entries {
			if i > 0 && e.Path <= res.entries[i-1].Path {
				t.Fatalf("MULTIREAD entries not sorted and unique: %q after %q", e.Path, res.entries[i-1].Path)
			}
			if checkValue(e.Value) != nil {
				t.Fatalf("MULTIREAD value %q", e.Value)
			}
			paths = append(paths, e.Path)
		}
		if len(paths) > 0 && o.entryType() == 0 {
			t.Fatalf("%s gave entries", typeName(o.typ))
		}
		for i, p := range paths {
			if !strings.HasPrefix(p, o.path) || checkPath(p) != nil {
				t.Fatalf("entry %q for prefix %q", p, o.path)
			}
			if i > 0 && o.typ == cmdList && p == paths[i-1] {
				t.Fatalf("LIST gave %q twice", p)
			}
		}
	})
}
