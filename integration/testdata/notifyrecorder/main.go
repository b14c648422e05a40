// Command notifyrecorder is the notification server of the desktop test:
// it owns org.freedesktop.Notifications on the session bus and appends
// every notification it is sent, as one JSON line, to the file named by
// its argument, until it is killed. (Debian's notification daemons need a
// full desktop session; the test needs to read what it received.)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/godbus/dbus/v5"
)

type server struct {
	mu  sync.Mutex
	out *os.File
	n   uint32
}

// Notify is org.freedesktop.Notifications.Notify.
func (s *server) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	urgency, _ := hints["urgency"].Value().(byte)
	b, _ := json.Marshal(map[string]any{"app": app, "icon": icon, "summary": summary, "body": body, "urgency": urgency})
	s.out.Write(append(b, '\n'))
	s.out.Sync()
	return s.n, nil
}

// GetServerInformation is part of the interface clients may ask for.
func (s *server) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "notifyrecorder", "isofsd", "1", "1.2", nil
}

// GetCapabilities is part of the interface clients may ask for.
func (s *server) GetCapabilities() ([]string, *dbus.Error) { return []string{"body"}, nil }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: notifyrecorder OUTFILE")
		os.Exit(2)
	}
	out, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := &server{out: out}
	if err := conn.Export(s, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		fmt.Fprintln(os.Stderr, "cannot own org.freedesktop.Notifications:", reply, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}
