//go:build !amd64 || purego

package kernels

// BF16Path is the kernel GemmBF16 uses: always "go" here.
var BF16Path = "go"

func bf16Runs(p string) bool { return p == "go" }

func bf16Kernels(n int) bf16Set { return bf16GoSet() }
