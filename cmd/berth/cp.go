package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

// errCopyDone ends the writer of an archive the engine has taken.
var errCopyDone = errors.New("copy done")

// cpOptions are cp's flags.
type cpOptions struct {
	archive, followLink, quiet bool
}

func newCpCommand(c *client) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use: "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.

Usage:  berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
        berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  exactArgs(2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			job, err := parseCpArgs(args[0], args[1])
			if err != nil {
				return err
			}
			if job.fromContainer {
				return copyFromContainer(ctx, cmd, api, job, o)
			}
			return copyToContainer(ctx, cmd, api, job, o)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	f.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy")
	return cmd
}

// splitCpArg splits docker's cp argument: "CONTAINER:PATH" names a path in
// a container; an absolute path, a path without ":" or one starting with
// "." (./a:b) is local.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

// cpJob is one copy: the container, its path, the local path ("-": a tar
// on stdin or stdout) and the direction.
type cpJob struct {
	ctr, ctrPath, local string
	fromContainer       bool
}

// parseCpArgs reads SRC and DEST as docker does.
func parseCpArgs(src, dst string) (cpJob, error) {
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcPath == "":
		return cpJob{}, errors.New("source can not be empty")
	case dstPath == "":
		return cpJob{}, errors.New("destination can not be empty")
	case srcCtr != "" && dstCtr != "":
		return cpJob{}, errors.New("copying between containers is not supported")
	case srcCtr != "":
		return cpJob{ctr: srcCtr, ctrPath: srcPath, local: dstPath, fromContainer: true}, nil
	case dstCtr != "":
		return cpJob{ctr: dstCtr, ctrPath: dstPath, local: srcPath}, nil
	}
	return cpJob{}, errors.New("must specify at least one container source")
}

// contentsOnly reports whether a source path asks for the contents of a
// directory rather than the directory ("dir/.").
func contentsOnly(p string) bool {
	return p == "." || strings.HasSuffix(p, "/.")
}

func copyFromContainer(ctx context.Context, cmd *cobra.Command, api engine.API, job cpJob, o cpOptions) error {
	src := job.ctrPath
	rebase := ""
	if o.followLink {
		st, err := api.ContainerStatPath(ctx, job.ctr, src)
		if err == nil && st.Mode&fs.ModeSymlink != 0 {
			target := st.LinkTarget
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(strings.TrimSuffix(src, "/")), target)
			}
			// The copy keeps the link's name.
			rebase = path.Base(strings.TrimSuffix(src, "/"))
			src = target
		}
	}
	rc, st, err := api.CopyFromContainer(ctx, job.ctr, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	if job.local == "-" {
		_, err := io.Copy(cmd.OutOrStdout(), rc)
		return err
	}
	var r io.Reader = rc
	if rebase != "" && rebase != st.Name {
		r = renameRoot(r, st.Name, rebase)
		st.Name = rebase
	}
	n, err := extractLocal(ctx, r, st.Name, st.Mode.IsDir(), contentsOnly(job.ctrPath), job.local, o.archive)
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "Successfully copied %s to %s\n", humanSize4(n), job.local)
	}
	return nil
}

func copyToContainer(ctx context.Context, cmd *cobra.Command, api engine.API, job cpJob, o cpOptions) error {
	copts := engine.CopyToOptions{CopyUIDGID: o.archive}
	dst := job.ctrPath
	if job.local == "-" {
		st, err := api.ContainerStatPath(ctx, job.ctr, dst)
		if err != nil {
			return err
		}
		if !st.Mode.IsDir() {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", job.ctr, dst)
		}
		return api.CopyToContainer(ctx, job.ctr, dst, cmd.InOrStdin(), copts)
	}
	stat := os.Lstat
	if o.followLink {
		stat = os.Stat
	}
	fi, err := stat(job.local)
	if err != nil {
		return err
	}
	// Where the copy lands: into an existing directory under the source's
	// name, else as the destination's last element in its parent.
	into, name := dst, filepath.Base(job.local)
	dstStat, err := api.ContainerStatPath(ctx, job.ctr, dst)
	if err == nil && dstStat.Mode&fs.ModeSymlink != 0 {
		target := dstStat.LinkTarget
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(dst), target)
		}
		dst = target
		dstStat, err = api.ContainerStatPath(ctx, job.ctr, dst)
		into = dst
	}
	switch {
	case err == nil && dstStat.Mode.IsDir():
	case err == nil:
		if fi.IsDir() {
			return fmt.Errorf("cannot copy directory %s to %s:%s: the destination is a file", job.local, job.ctr, job.ctrPath)
		}
		into, name = path.Dir(dst), path.Base(dst)
	case engine.KindOf(err) == engine.KindNotFound:
		if strings.HasSuffix(dst, "/") && !fi.IsDir() {
			return fmt.Errorf("destination directory %s:%s does not exist", job.ctr, job.ctrPath)
		}
		into, name = path.Dir(strings.TrimSuffix(dst, "/")), path.Base(strings.TrimSuffix(dst, "/"))
	default:
		return err
	}
	if contentsOnly(job.local) && fi.IsDir() && err == nil && dstStat.Mode.IsDir() {
		name = ""
	}
	pr, pw := io.Pipe()
	var n int64
	written := make(chan error, 1)
	go func() {
		var err error
		n, err = writeLocalTar(pw, job.local, fi, name, o.followLink)
		pw.CloseWithError(err)
		written <- err
	}()
	err = api.CopyToContainer(ctx, job.ctr, into, pr, copts)
	// The engine may stop reading before the tar's padding: what is left
	// unread does not matter once it took the archive.
	pr.CloseWithError(errCopyDone)
	if werr := <-written; err == nil && werr != nil && !errors.Is(werr, errCopyDone) {
		err = werr
	}
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "Successfully copied %s to %s:%s\n", humanSize4(n), job.ctr, job.ctrPath)
	}
	return nil
}

// writeLocalTar writes the local tree at src to w, its root named name ("":
// the contents only), and returns the bytes of file content written.
// followRoot follows src itself when it is a symlink.
func writeLocalTar(w io.Writer, src string, rootInfo fs.FileInfo, name string, followRoot bool) (int64, error) {
	tw := tar.NewWriter(w)
	var total int64
	add := func(p, entry string, fi fs.FileInfo) error {
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("archive %s: %w", p, err)
		}
		h.Name, h.Uname, h.Gname = entry, "", ""
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(tw, f)
		total += n
		return err
	}
	if !rootInfo.IsDir() {
		if err := add(src, name, rootInfo); err != nil {
			return total, err
		}
		return total, tw.Close()
	}
	root := src
	if followRoot {
		if r, err := filepath.EvalSymlinks(src); err == nil {
			root = r
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		entry := path.Join(name, filepath.ToSlash(rel))
		if rel == "." {
			if name == "" {
				return nil
			}
			entry = name
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		return add(p, entry, fi)
	})
	if err != nil {
		return total, err
	}
	return total, tw.Close()
}

// renameRoot rewrites a tar whose entries are under root so they are under
// name instead (hardlink targets too).
func renameRoot(r io.Reader, root, name string) io.Reader {
	return rewriteTar(r, func(h *tar.Header) bool {
		h.Name = rebaseEntry(h.Name, root, name)
		if h.Typeflag == tar.TypeLink {
			h.Linkname = rebaseEntry(h.Linkname, root, name)
		}
		return true
	})
}

// rebaseEntry renames an entry under root to be under name; name "" drops
// the root component (and the root entry itself becomes "").
func rebaseEntry(entry, root, name string) string {
	e := strings.TrimPrefix(entry, "./")
	trail := strings.HasSuffix(e, "/")
	e = strings.TrimSuffix(e, "/")
	switch {
	case e == root:
		e = name
	case strings.HasPrefix(e, root+"/"):
		e = path.Join(name, strings.TrimPrefix(e, root+"/"))
	default:
		return entry
	}
	if trail && e != "" {
		e += "/"
	}
	return e
}

// rewriteTar passes a tar through fn, which may change each header or
// drop its entry (false).
func rewriteTar(r io.Reader, fn func(*tar.Header) bool) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !fn(h) || h.Name == "" {
				continue
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}
