package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// setupConsole makes a pty in the container's devpts, sends the master over
// the console socket (as runc does: SCM_RIGHTS, the slave's path as payload)
// and makes the slave the process's controlling terminal and stdio. For the
// container's init it is also bound over /dev/console.
func setupConsole(c *initConfig, devConsole bool) error {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("get pty number: %w", err)
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	slave, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slavePath, err)
	}
	defer unix.Close(slave)
	if err := unix.Fchown(slave, int(c.Process.User.UID), -1); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("chown %s: %w", slavePath, err)
	}
	if c.Process.ConsoleSize != nil {
		ws := &unix.Winsize{Row: uint16(c.Process.ConsoleSize.Height), Col: uint16(c.Process.ConsoleSize.Width)}
		unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws)
	}
	if err := unix.Sendmsg(c.ConsoleFD, []byte(slavePath), unix.UnixRights(master), nil, 0); err != nil {
		return fmt.Errorf("send pty master on console socket: %w", err)
	}
	unix.Close(c.ConsoleFD)
	if devConsole {
		if err := bindDevConsole(slavePath); err != nil {
			return err
		}
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(slave, i, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", i, err)
		}
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// recvConsole receives the pty master of a foreground process sent on sock.
// Like runc, it turns off the pty's \n -> \r\n translation: berth's own
// terminal (in raw mode, output processing kept) makes it once, and output
// redirected to a file gets plain newlines.
func recvConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive pty master: no descriptor sent (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive pty master: %v", err)
	}
	if t, err := unix.IoctlGetTermios(fds[0], unix.TCGETS); err == nil {
		t.Oflag &^= unix.ONLCR
		if err := unix.IoctlSetTermios(fds[0], unix.TCSETS, t); err != nil {
			unix.Close(fds[0])
			return nil, fmt.Errorf("clear ONLCR on the pty: %w", err)
		}
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
