package ddblocal

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills DynamoDB Local when the process that started it dies, so a
// crashed test binary leaves no JVM behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
