// uuidgen prints a name-based UUID: a sample with a third-party module, so
// that its image build downloads modules in their own cached layer.
package main

import (
	"flag"
	"fmt"

	"github.com/google/uuid"
)

func main() {
	name := flag.String("name", "goimage-operator", "the name to derive the UUID from")
	flag.Parse()
	fmt.Printf("uuid(%s) = %s\n", *name, uuid.NewSHA1(uuid.NameSpaceURL, []byte(*name)))
}
