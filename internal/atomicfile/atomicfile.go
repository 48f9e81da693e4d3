// Package atomicfile writes files so that readers see either the old file or
// the whole new one, never a half-written file: results survive a crash or a
// Ctrl-C in the middle of writing them.
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write produces: it writes a
// temporary file beside path, syncs it and renames it into place. On error
// path is left as it was.
func Write(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CheckFile says whether Write could write path: its directory exists and
// takes a new file, and path is not a directory. Commands call it before
// long work, so that a wrong path is found at the start, not at the end.
func CheckFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return &os.PathError{Op: "write", Path: path, Err: errIsDir}
	}
	return probe(filepath.Dir(path))
}

// CheckDir says whether dir exists and takes new files, or can be created
// (its parent exists and takes them).
func CheckDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return &os.PathError{Op: "write", Path: dir, Err: errNotDir}
	case err == nil:
		return probe(dir)
	case os.IsNotExist(err):
		return probe(filepath.Dir(dir))
	}
	return err
}

// probe creates and removes a file in dir.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".herd-probe*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

var (
	errIsDir  = errors.New("is a directory")
	errNotDir = errors.New("is not a directory")
)

// File is a file written over time that appears at its path whole, at
// Commit, or not at all.
type File struct {
	*os.File
	path string
}

// Create starts writing path atomically.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	return &File{File: tmp, path: path}, nil
}

// Commit syncs the file and puts it at its path.
func (f *File) Commit() error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Abort drops the file; its path is left as it was.
func (f *File) Abort() {
	f.Close()
	os.Remove(f.Name())
}
