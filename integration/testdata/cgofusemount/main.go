//go:build cgofuse

// Command cgofusemount mounts an image through the cgofuse backend alone,
// for the integration suite: `cgofusemount IMAGE MOUNTPOINT` prints READY
// once mounted and serves until SIGTERM/SIGINT or an external unmount.
// It stands in for `isofsd mount --backend cgofuse` until the mount
// command grows that flag.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/isofmt"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: cgofusemount IMAGE MOUNTPOINT")
		os.Exit(2)
	}
	log := logrus.New()
	img, err := isofmt.OpenFile(os.Args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	t, err := isofs.New(img, isofs.Options{ImagePath: os.Args[1], UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv, err := cgofuse.Mount(os.Args[2], t, cgofuse.Options{Source: os.Args[1], Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("READY")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-sig:
		if err := srv.Unmount(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case <-done:
	}
}
