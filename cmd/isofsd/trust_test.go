package main

import "testing"

// TestUnderWindowsDir: the Windows service (LocalSystem) is pointed only
// at a binary below Program Files, compared as Windows compares paths.
func TestUnderWindowsDir(t *testing.T) {
	roots := []string{`C:\Program Files`, "", `C:\Program Files (x86)`}
	for _, tc := range []struct {
		bin string
		ok  bool
	}{
		{`C:\Program Files\isofsd\isofsd.exe`, true},
		{`c:\program files\ISOFSD\isofsd.exe`, true},
		{`C:/Program Files/isofsd/isofsd.exe`, true},
		{`C:\Program Files (x86)\isofsd.exe`, true},
		{`C:\Program Files\.\isofsd\..\isofsd.exe`, true},
		{`C:\Program Files`, false},
		{`C:\Program Files\`, false},
		{`C:\Program Files\..\Users\alice\isofsd.exe`, false},
		{`C:\Program FilesX\isofsd.exe`, false},
		{`C:\Users\alice\Downloads\isofsd.exe`, false},
		{`D:\Program Files\isofsd.exe`, false},
		{`\\server\share\Program Files\isofsd.exe`, false},
		{`\\?\C:\Program Files\isofsd.exe`, false},
		{`Program Files\isofsd.exe`, false},
		{`C:\..\..\Program Files\isofsd.exe`, false},
		{``, false},
	} {
		if got := underWindowsDir(tc.bin, roots); got != tc.ok {
			t.Errorf("underWindowsDir(%q) = %v, want %v", tc.bin, got, tc.ok)
		}
	}
	if underWindowsDir(`C:\Windows\Temp\isofsd.exe`, []string{""}) {
		t.Error("no roots: nothing is below them")
	}
}
