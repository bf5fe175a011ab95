package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "berth-runtime: not yet built")
	os.Exit(1)
}
