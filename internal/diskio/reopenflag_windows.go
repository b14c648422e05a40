//go:build windows

package diskio

// reopenFlag: no FIFOs to block on here.
const reopenFlag = 0
