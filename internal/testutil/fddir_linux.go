//go:build linux

package testutil

// fdDir lists this process's open file descriptors (FDCount).
const fdDir = "/proc/self/fd"
