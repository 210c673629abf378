// Command gendoc writes lubdub's manual pages and shell completion
// scripts, made from the same tables as --help, into a directory:
//
//	go run ./internal/cli/gendoc -o DIR
//
// DIR/man/lubdub.8 ... (roff, uncompressed), DIR/bash/lubdub,
// DIR/zsh/_lubdub. The pages' date is $SOURCE_DATE_EPOCH's (UTC), so that
// a package build is reproducible; without it the pages carry no date.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lubdub/lubdub/internal/cli"
)

func main() {
	out := flag.String("o", "", "output `DIR`ectory")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	date := ""
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		date = time.Unix(sec, 0).UTC().Format("2006-01-02")
	}
	write := func(name string, data []byte) error {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	}
	for _, p := range cli.ManPages(date) {
		if err := write(filepath.Join("man", p.File()), []byte(p.Text)); err != nil {
			return err
		}
	}
	for _, sh := range []struct{ shell, file string }{{"bash", "bash/lubdub"}, {"zsh", "zsh/_lubdub"}} {
		script, err := cli.CompletionScript(sh.shell)
		if err != nil {
			return err
		}
		if err := write(sh.file, script); err != nil {
			return err
		}
	}
	return nil
}
