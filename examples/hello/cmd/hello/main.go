// hello is the sample program that goimage-operator's examples build into an image.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
)

func main() {
	name := flag.String("name", "world", "who to greet")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: hello [--name NAME]\n\nGreets NAME from a static Go binary.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	fmt.Printf("hello, %s, from %s/%s (%s)\n", *name, runtime.GOOS, runtime.GOARCH, runtime.Version())
	os.Exit(0)
}
