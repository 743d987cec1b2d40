package compile

import (
	"os/exec"
	"syscall"
)

// detachChild makes a child process that mlc drives (a runner, a user's
// Build driver) die with mlc, however mlc ends (the kernel's parent-death
// signal), and puts it in its own process group, so that a Ctrl-C at the
// terminal reaches mlc alone: mlc then saves, using the child, and ends it.
func detachChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killGroupOnCancel makes a CommandContext's cancellation kill the child's
// whole process group (detachChild gave it one), not the child alone.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
