package nsexec

// The C stage is linked into any binary that imports this package; it only acts
// when _BERTH_INITPIPE is set in the environment.

/*
#cgo CFLAGS: -Wall -O2
*/
import "C"
