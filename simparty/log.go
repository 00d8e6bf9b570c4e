package simparty

import golog "github.com/ipfs/go-log"

// SetTSSLogLevel sets tss-lib's log level ("debug", "info", "warn", "error", ...). tss-lib logs
// every round at info level through ipfs go-log; commands and tests set "error".
func SetTSSLogLevel(level string) error {
	return golog.SetLogLevel("tss-lib", level)
}
