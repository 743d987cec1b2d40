//go:build !linux

package compile

import "os/exec"

// detachChild does nothing where the kernel has no parent-death signal; a
// runner there still ends when its standard input closes.
func detachChild(cmd *exec.Cmd) {}

// killGroupOnCancel keeps the default: cancellation kills the child.
func killGroupOnCancel(cmd *exec.Cmd) {}
