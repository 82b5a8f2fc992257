// Command etcd is the etcd server, built from its module at the version pinned in go.mod so the
// test environment can run a real etcd without downloading release binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
