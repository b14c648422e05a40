package recover

import "syscall"

const oDirect = syscall.O_DIRECT
