module github.com/mlc-dev/mlc

go 1.26.0

require gonum.org/v1/gonum v0.17.0

require (
	github.com/dave/jennifer v1.7.1
	github.com/google/go-cmp v0.7.0
	golang.org/x/image v0.30.0
	golang.org/x/mod v0.42.0
	golang.org/x/term v0.44.0
	golang.org/x/tools v0.52.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

tool google.golang.org/protobuf/cmd/protoc-gen-go
