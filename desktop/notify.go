package desktop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// EnvNotify overrides when notifications are sent: "always", "never",
// or unset/"auto" for the rule of WantNotify.
const EnvNotify = "ISOFSD_NOTIFY"

// notifyTimeout bounds one notification: a missing or hung notification
// server must not hold up the command.
const notifyTimeout = 3 * time.Second

// Notification is one desktop notification.
type Notification struct {
	Summary string
	Body    string
	// Icon is a freedesktop icon name ("" → media-optical).
	Icon string
	// Critical asks the server to keep it up until dismissed (failures).
	Critical bool
}

// WantNotify decides whether a command should report its outcome as a
// desktop notification: when it was started from the desktop (a file
// manager action, a double-click) nobody sees its output, so it is
// wanted exactly when none of stdin, stdout and stderr is a terminal,
// a graphical session is there (DISPLAY or WAYLAND_DISPLAY) and its
// session bus can be found. EnvNotify overrides the rule. getenv and
// isTerminal are os.Getenv and a terminal test of fds 0, 1, 2.
func WantNotify(getenv func(string) string, isTerminal func(fd int) bool) bool {
	switch strings.ToLower(getenv(EnvNotify)) {
	case "always", "1", "yes":
		return true
	case "never", "0", "no":
		return false
	}
	for fd := range 3 {
		if isTerminal(fd) {
			return false
		}
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return false
	}
	return sessionBusAddress(getenv) != ""
}

// sessionBusAddress is the session bus address, from
// DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus. godbus would also
// try to autolaunch a bus through dbus-launch, which a notification must
// never do.
func sessionBusAddress(getenv func(string) string) string {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a
	}
	if rt := getenv("XDG_RUNTIME_DIR"); rt != "" {
		p := filepath.Join(rt, "bus")
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + p
		}
	}
	return ""
}

// ErrNoBus means no session bus address is known.
var ErrNoBus = errors.New("desktop: no D-Bus session bus")

// Notify shows n through org.freedesktop.Notifications on the session
// bus and returns the notification id the server gave it.
func Notify(ctx context.Context, n Notification) (uint32, error) {
	addr := sessionBusAddress(os.Getenv)
	if addr == "" {
		return 0, ErrNoBus
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("desktop: session bus %s: %w", addr, err)
	}
	defer conn.Close()
	icon := n.Icon
	if icon == "" {
		icon = "media-optical"
	}
	urgency := byte(1)
	if n.Critical {
		urgency = 2
	}
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}
	obj := conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	body := plainBody(n.Body)
	if serverMarkup(ctx, obj) {
		body = markupEscaper.Replace(body)
	}
	// A timeout of -1 leaves the display time to the server; critical
	// notifications stay until dismissed by the specification.
	var id uint32
	call := obj.CallWithContext(ctx,
		"org.freedesktop.Notifications.Notify", 0, "isofsd", uint32(0), icon, plainBody(n.Summary), body, []string{}, hints, int32(-1))
	if call.Err != nil {
		return 0, fmt.Errorf("desktop: notification: %w", call.Err)
	}
	if err := call.Store(&id); err != nil {
		return 0, fmt.Errorf("desktop: notification reply: %w", err)
	}
	return id, nil
}

// markupEscaper makes text literal in a notification body: servers that
// take markup there (GNOME Shell, Plasma, xfce4-notifyd, dunst…) would
// otherwise render tags, links and images out of file names and volume
// labels, which come from images and other users.
var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// serverMarkup reports whether the notification server reads markup in
// bodies (its "body-markup" capability). A server that does not say is
// taken to: the specification lets servers without it show markup as it
// is, so escaping there costs at most a visible "&amp;", while not
// escaping for a server that does read markup lets a name inject it.
func serverMarkup(ctx context.Context, obj dbus.BusObject) bool {
	var caps []string
	if err := obj.CallWithContext(ctx, "org.freedesktop.Notifications.GetCapabilities", 0).Store(&caps); err != nil {
		return true
	}
	return slices.Contains(caps, "body-markup")
}

// plainBody drops the control characters other than newline and tab
// (terminal escapes, which have no place in a notification and are not
// allowed in the XML the servers parse bodies as).
func plainBody(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !(r < 0x20 || r >= 0x7f && r < 0xa0) {
			return r
		}
		return -1
	}, s)
}
