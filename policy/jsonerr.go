package policy

import (
	stdjson "encoding/json"
	stderrors "errors"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/json"
)

// extractJSON parses a JSON file into a CUE expression. CUE's decoder says
// only that the JSON is invalid; on a syntax error the standard decoder is
// asked what is wrong, and its offset becomes the error's position.
func extractJSON(path string, data []byte) (ast.Expr, error) {
	expr, err := json.Extract(path, data)
	if err == nil {
		return expr, nil
	}
	var syntax *stdjson.SyntaxError
	if serr := stdjson.Unmarshal(data, new(any)); stderrors.As(serr, &syntax) {
		f := token.NewFile(path, -1, len(data))
		f.SetLinesForContent(data)
		// The standard decoder's offset is just past the offending byte.
		pos := f.Pos(int(syntax.Offset)-1, token.NoRelPos)
		return nil, Errorf(pos, "", "invalid JSON: %v", syntax)
	}
	return nil, errors.Promote(err, "")
}
