package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const sdkServices = "github.com/aws/aws-sdk-go-v2/service/"

// iamActionOf names the IAM action of an SDK operation where it differs from
// service:Operation.
var iamActionOf = map[string]string{"lambda:Invoke": "lambda:InvokeFunction", "dynamodb:TransactWriteItems": ""}

// transactActions are the IAM actions of TransactWriteItems, one for each kind
// of item it holds (docs/label-index.md cites AWS's page): there is no
// dynamodb:TransactWriteItems action.
var transactActions = map[string]string{
	"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
	"Delete": "dynamodb:DeleteItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
}

// funcDecl is a function or method of the module with the file it is in.
type funcDecl struct {
	pkg     string
	imports map[string]string // local name -> import path
	body    ast.Node
}

// awsCalls lists the AWS operations (as IAM actions) that the code of a main
// package can reach: an operation counts where reachable code builds its
// <Operation>Input. Reachability is rapid type analysis on the syntax: from
// main and the package initialisers, through every function named, and every
// method of a type the reachable code names whose name it selects. Code that
// only another command runs (vipctl's rebuild, say) does not count.
func awsCalls(t *testing.T, mainPkg string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if and .Module (eq .Module.Path "github.com/vip-messages/api")}}{{.ImportPath}} {{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{end}}`, mainPkg)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", mainPkg, err)
	}
	funcs := map[string]funcDecl{}   // "pkg.F" or "pkg.T.M"
	methods := map[string][]string{} // method name -> keys
	var roots []string
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pkg := f[0]
		for _, name := range f[2:] {
			file, err := parser.ParseFile(fset, filepath.Join(f[1], name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			imports := map[string]string{}
			for _, im := range file.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				local := path.Base(p)
				if im.Name != nil {
					local = im.Name.Name
				}
				imports[local] = p
			}
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					key := pkg + "." + d.Name.Name
					if d.Recv != nil {
						key = pkg + "." + typeName(d.Recv.List[0].Type) + "." + d.Name.Name
						methods[d.Name.Name] = append(methods[d.Name.Name], key)
					} else if d.Name.Name == "init" || d.Name.Name == "main" {
						key += ":" + fset.Position(d.Pos()).String()
						roots = append(roots, key)
					}
					if d.Body != nil {
						funcs[key] = funcDecl{pkg, imports, d.Body}
					}
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						// Package variables are initialised in every binary.
						if sp, ok := spec.(*ast.ValueSpec); ok {
							key := pkg + ".var:" + fset.Position(sp.Pos()).String()
							funcs[key] = funcDecl{pkg, imports, sp}
							roots = append(roots, key)
						}
					}
				}
			}
		}
	}

	calls := map[string]bool{}
	reached, types, selected := map[string]bool{}, map[string]bool{}, map[string]bool{}
	queue := roots
	reach := func(key string) {
		if _, ok := funcs[key]; ok && !reached[key] {
			reached[key] = true
			queue = append(queue, key)
		}
	}
	// liveMethods reaches the methods that a new type or a new selected name makes callable.
	liveMethods := func() {
		for name := range selected {
			for _, key := range methods[name] {
				if types[strings.TrimSuffix(key, "."+name)] {
					reach(key)
				}
			}
		}
	}
	for len(queue) > 0 {
		fn := funcs[queue[0]]
		queue = queue[1:]
		ast.Inspect(fn.body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && fn.imports[x.Name] != "" {
					p := fn.imports[x.Name]
					if strings.HasPrefix(p, sdkServices) && strings.HasSuffix(n.Sel.Name, "Input") {
						action := path.Base(p) + ":" + strings.TrimSuffix(n.Sel.Name, "Input")
						if a, ok := iamActionOf[action]; ok {
							action = a
						}
						if action != "" {
							calls[action] = true
						}
					}
					if a, ok := transactActions[n.Sel.Name]; ok && p == sdkServices+"dynamodb/types" {
						calls[a] = true
					}
					reach(p + "." + n.Sel.Name)
					types[p+"."+n.Sel.Name] = true
					return false
				}
				selected[n.Sel.Name] = true
			case *ast.Ident:
				reach(fn.pkg + "." + n.Name)
				types[fn.pkg+"."+n.Name] = true
			}
			return true
		})
		liveMethods()
	}
	return calls
}

// typeName is the name of a receiver's type: T of T, *T, T[P] or *T[P].
func typeName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return typeName(x.X)
	case *ast.IndexExpr:
		return typeName(x.X)
	case *ast.IndexListExpr:
		return typeName(x.X)
	case *ast.Ident:
		return x.Name
	}
	return ""
}
