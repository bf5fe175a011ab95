package local

import "syscall"

const syscallENOTEMPTY = syscall.ENOTEMPTY
