//go:build ignore

// mutation-artifacts reads gremlins' report lines on standard input and
// prints, one a line, the NOT COVERED mutants that sit where Go's coverage
// profile has no counter, so that gremlins reports them NOT COVERED
// whatever the tests do (go-gremlins/gremlins#298): outside every function
// body (constants, package-level variables' initializers) or in the
// expression list of a switch or select case. scripts/mutation counts
// them apart.
//
//	go run scripts/mutation-artifacts.go DIR < report
//
// DIR is the package directory the report's file names are relative to.
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

var notCovered = regexp.MustCompile(`^\s*NOT COVERED \S+ at (\S+):(\d+):(\d+)`)

type parsed struct {
	fset *token.FileSet
	file *ast.File
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/mutation-artifacts.go DIR < report")
		os.Exit(2)
	}
	dir := os.Args[1]
	files := map[string]*parsed{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := notCovered.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p, ok := files[m[1]]
		if !ok {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, filepath.Join(dir, m[1]), nil, parser.SkipObjectResolution)
			if err != nil {
				fmt.Fprintln(os.Stderr, "mutation-artifacts:", err)
				os.Exit(1)
			}
			p = &parsed{fset, f}
			files[m[1]] = p
		}
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		tf := p.fset.File(p.file.Pos())
		if line < 1 || line > tf.LineCount() {
			continue
		}
		if artifact(p.file, tf.LineStart(line)+token.Pos(col-1)) {
			fmt.Printf("%s:%d:%d\n", m[1], line, col)
		}
	}
}

// artifact reports whether pos is outside every function body or inside
// a case clause's expressions.
func artifact(f *ast.File, pos token.Pos) bool {
	inBody, inCase := false, false
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil || pos < n.Pos() || pos >= n.End() {
			return n == nil
		}
		switch n := n.(type) {
		case *ast.FuncDecl:
			inBody = inBody || n.Body != nil && n.Body.Pos() <= pos && pos < n.Body.End()
		case *ast.FuncLit:
			inBody = inBody || n.Body.Pos() <= pos && pos < n.Body.End()
		case *ast.CaseClause:
			for _, e := range n.List {
				inCase = inCase || e.Pos() <= pos && pos < e.End()
			}
		case *ast.CommClause:
			inCase = inCase || n.Comm != nil && n.Comm.Pos() <= pos && pos < n.Comm.End()
		}
		return true
	})
	return !inBody || inCase
}
