// umvcsim: govmomi's vCenter simulator (VPX model) on loopback, for the tests.
//
// Debian's golang-github-vmware-govmomi-dev ships the simulator package but not
// the vcsim command; this is the minimal replacement. Built by tests/vcsim/build.sh
// against a patched copy of the simulator package (govmomi-0.24-simulator.patch).
// Listening on port 0 picks a free port; the URL actually used is printed on
// stdout as "GOVC_URL=https://user:pass@127.0.0.1:PORT/sdk".
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "listen address (loopback only)")
	flag.Parse()
	model := simulator.VPX()
	defer model.Remove()
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	model.Service.Listen = &url.URL{Host: *listen}
	model.Service.TLS = new(tls.Config)
	model.Service.RegisterEndpoints = true
	s := model.Service.NewServer()
	fmt.Printf("GOVC_URL=%s\n", s.URL)
	os.Stdout.Sync()
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
	s.Close()
}
