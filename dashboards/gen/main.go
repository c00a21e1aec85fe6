// Command gen writes raftdrill's Grafana dashboards as JSON (make dashboards,
// or go generate ./dashboards). The dashboards are Go code in package
// dashboards; the JSON is what Grafana loads, and a test keeps the two equal.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/raftdrill/raftdrill/dashboards"
)

func main() {
	dir := flag.String("dir", "dashboards/"+dashboards.Dir, "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := dashboards.Generate(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
