// Package safepath resolves paths so that nothing another user controls
// is followed. It serves the commands root may run on paths a user can
// influence — `desktop install|uninstall` (a HOME, XDG directories, a
// manifest, symlinked dotfiles) and the installers that point services at
// a binary (a system-wide desktop entry or systemd unit runs whatever
// file its path resolves to, for every user).
//
// A path is walked from "/" one element at a time, each opened relative
// to the directory before it (O_PATH|O_NOFOLLOW), so that what is checked
// is what is used. Every directory entered and every symbolic link
// followed must belong to a user the Policy trusts (the caller and root,
// or root alone), and a directory must not let others replace its
// entries (see Policy). A symlink is followed by reading it and walking
// its target the same way, so a link is never a way around the checks: a
// user's own dotfile links keep working, another user's link is refused.
// This is what fs.protected_symlinks does for sticky directories, applied
// to every element and to directories as well, and whatever that sysctl
// says.
package safepath
