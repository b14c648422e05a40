//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/mounter"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// TestDaemonClient drives an in-process daemon through the client
// functions `isofsd mount`/`unmount` use, and through list and status.
func TestDaemonClient(t *testing.T) {
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("content\n"), 0o644)
	img := filepath.Join(dir, "a.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-J", "-o", img, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v %s", err, out)
	}
	sock := filepath.Join(dir, "d.sock")
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	d, err := mounter.NewDaemon(mounter.DaemonOptions{Socket: sock, Log: a.log, Notify: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !daemonAnswers(sock) {
		if time.Now().After(deadline) {
			t.Fatal("daemon does not answer")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Relative paths are resolved by the client.
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	df := &daemonMountFlags{socket: sock}
	f := mountFlags{tree: "joliet", cacheSize: "1M", umask: "027", splice: "on", prefetch: "on", uid: 4321, gid: 8765}
	o, err := f.mountOptions("a.iso", "mnt")
	if err != nil {
		t.Fatal(err)
	}
	if got, handled, err := df.tryDaemonMount(a, o); !handled || err != nil || got != mp {
		t.Fatalf("mount through the daemon: %q %v %v, want %s", got, handled, err, mp)
	}
	fi, err := os.Stat(filepath.Join(mp, "f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Joliet has no owners: the client's --uid/--gid/--umask apply.
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 4321 || st.Gid != 8765 || fi.Mode().Perm() != 0o440 {
		t.Errorf("owner %+v mode %v, want 4321:8765 0440", fi.Sys(), fi.Mode())
	}
	// The same mountpoint again: a usage error.
	if _, _, err := df.tryDaemonMount(a, o); daemonExitCode(err) != exitUsage || !strings.Contains(err.Error(), "busy") {
		t.Errorf("second mount: %v", err)
	}
	root := newRootCmd(a)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"list", "--socket", sock})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), mp) || !strings.Contains(out.String(), "joliet") {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	root = newRootCmd(a)
	root.SetOut(&out)
	root.SetArgs([]string{"status", "--socket", sock, "--json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"mounts": 1`) {
		t.Errorf("status:\n%s", out.String())
	}
	// A mountpoint the daemon does not serve is left to the standalone
	// unmount by default, an error with --daemon.
	if handled, err := df.tryDaemonUnmount(filepath.Join(dir, "elsewhere"), false); handled || err != nil {
		t.Errorf("foreign unmount: handled %v, %v", handled, err)
	}
	df.daemon = true
	var pe *ctlproto.Error
	if handled, err := df.tryDaemonUnmount(filepath.Join(dir, "elsewhere"), false); !handled || !errors.As(err, &pe) || pe.Code != ctlproto.CodeNotFound {
		t.Errorf("foreign unmount with --daemon: handled %v, %v", handled, err)
	}
	if handled, err := df.tryDaemonUnmount("mnt", false); !handled || err != nil {
		t.Fatalf("unmount through the daemon: %v %v", handled, err)
	}
	if _, ok, _ := mounter.FindMount(mp); ok {
		t.Error("still mounted")
	}
	// --standalone never talks to the daemon.
	df = &daemonMountFlags{socket: sock, standalone: true}
	if _, handled, err := df.tryDaemonMount(a, o); handled || err != nil {
		t.Errorf("--standalone: %v %v", handled, err)
	}
}
