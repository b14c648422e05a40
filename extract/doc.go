// Package extract is how files leave an image: the one engine behind
// `isofsd extract`, `extract -O` and `salvage` (through Options.Filter).
//
// Run copies the entries of an isofmt.Image that Options select into a
// directory DIR, restoring what Options.Metadata asks for, with a pool of
// workers; Stream writes selected files' contents to an io.Writer.
//
// Safety. Images are untrusted, and DIR may be writable by other users
// (a shared drop folder) while root extracts into it. Nothing is ever
// written outside DIR, and nothing in it that Run did not create is
// changed — but for the entries the Replace policy replaces, and the
// mtimes of existing directories that get new entries:
//   - DIR itself is opened one component at a time without following
//     symlinks, but for those of the caller's own or root's (so another
//     user's "/tmp/out -> /etc" is refused); missing components are
//     created (on Windows DIR's own path is taken as given);
//   - every name is checked before use (isofmt.CheckName: the parser
//     already hands out only path elements, this is the second line; on
//     Windows also "\", ":" and device names);
//   - directories are entered one element at a time, without following
//     symlinks, and checked to be the directory created or merged into
//     earlier in the run; entries are created only where nothing is, so a
//     symlink — from the image or already in DIR — is never followed, and
//     an existing entry is replaced only by the Replace policy (atomically,
//     by renaming a complete new entry over it);
//   - metadata (mode, owner, times) is set on the open file just created,
//     or on the symlink, FIFO or device opened without following its name
//     and checked to be the one just created — never through a name
//     another user could swap for a symlink in between; hard links are
//     checked to link the file created earlier and undone otherwise;
//   - owners, set-id bits and devices only with Metadata.Owners/Devices
//     (DefaultMetadata: when running as root);
//   - an existing directory is merged into and keeps its owner and mode
//     (GNU tar's --no-overwrite-dir): it may be another user's;
//   - directories Run creates are created 0700 while filled and get
//     their modes last, also when the run is interrupted; a file being
//     written when the context is cancelled is removed, so no truncated
//     file is left under a name that looks complete.
//
// On Linux the writer works on directory file descriptors and *at calls
// (O_NOFOLLOW, O_PATH, AT_EMPTY_PATH, RENAME_NOREPLACE); elsewhere it is
// os.Root, one per directory, which cannot create FIFOs or devices nor
// set a symlink's owner and times (those are skipped, and said so). Tests
// run the same cases through both on Linux.
package extract
