module example.com/circles

go 1.26.0

require github.com/mlc-dev/mlc v0.0.0

require (
	github.com/dave/jennifer v1.7.1 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.44.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// The example lives in mlc's repository and uses its code; a module of
// your own requires a released version of github.com/mlc-dev/mlc instead,
// or replaces it with the path of your clone as here.
replace github.com/mlc-dev/mlc => ../..

tool github.com/mlc-dev/mlc/cmd/mlc
