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
		return expr, duplicateKeys(expr, "object")
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

// duplicateKeys refuses a JSON object or YAML mapping that has a key
// twice. CUE would unify the two values, where other readers keep one or
// the other: which one was meant is unknown.
func duplicateKeys(n ast.Node, object string) error {
	var errs errors.Error
	ast.Walk(n, func(n ast.Node) bool {
		var decls []ast.Decl
		switch n := n.(type) {
		case *ast.StructLit:
			decls = n.Elts
		case *ast.File:
			decls = n.Decls
		default:
			return true
		}
		first := map[string]token.Pos{}
		for _, d := range decls {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			name, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			if p, dup := first[name]; dup {
				errs = errors.Append(errs, ErrorfAlso(f.Pos(), []token.Pos{p}, "", "key %q appears twice in one %s", name, object))
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
