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
		return expr, duplicateKeys(expr)
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

// duplicateKeys refuses an object that has a key twice. CUE would unify
// the two values, where JSON decoders keep one or the other: which one a
// reader meant is unknown.
func duplicateKeys(expr ast.Expr) error {
	var errs errors.Error
	ast.Walk(expr, func(n ast.Node) bool {
		s, ok := n.(*ast.StructLit)
		if !ok {
			return true
		}
		first := map[string]token.Pos{}
		for _, d := range s.Elts {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			if p, dup := first[name]; dup {
				errs = errors.Append(errs, ErrorfAlso(f.Pos(), []token.Pos{p}, "", "key %q appears twice in one object", name))
				continue
			}
			first[name] = f.Pos()
		}
		return true
	}, nil)
	if errs != nil {
		return errs
	}
	return nil
}
