package sim

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/sim/wire"
)

// Mosquitto's password hash ($7$: PBKDF2-SHA512), as mosquitto_passwd
// writes it.
const (
	mosquittoIterations = 101
	mosquittoSaltLen    = 12
	mosquittoHashLen    = 64
)

// MosquittoPasswd writes a Mosquitto password file for the fleet: every
// device's user name is its device id and its password its token (herd/1
// over MQTT), and ingestUser is the target's ingest.
func (l *Layout) MosquittoPasswd(w io.Writer, ingestUser, ingestPassword string) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	line := func(user, password string) error {
		salt := make([]byte, mosquittoSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		hash, err := pbkdf2.Key(sha512.New, password, salt, mosquittoIterations, mosquittoHashLen)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(bw, "%s:$7$%d$%s$%s\n", user, mosquittoIterations, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(hash))
		return err
	}
	if err := line(ingestUser, ingestPassword); err != nil {
		return err
	}
	for c := range l.Cameras() {
		if err := line(l.Device(c), l.DeviceToken(c)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// MosquittoACL writes a Mosquitto ACL file for herd/1 over MQTT: each
// device may publish on its own up topic and read its own down topic
// (%u, its user name, is its device id), and ingestUser may read every up
// topic and write every down topic.
func MosquittoACL(w io.Writer, ingestUser string) error {
	_, err := fmt.Fprintf(w, `# herd/1 over MQTT (written by herd fleet export --format mosquitto)

# the target's ingest: every device's up topic in, every down topic out
user %s
topic read %s
topic write %s+%s

# every device: its own two topics (its user name is its device id)
pattern write %s%%u%s
pattern read %s%%u%s
`, ingestUser, wire.UpFilter, wire.TopicPrefix, wire.DownSuffix, wire.TopicPrefix, wire.UpSuffix, wire.TopicPrefix, wire.DownSuffix)
	return err
}

// WriteMosquitto writes dir/passwd and dir/acl (MosquittoPasswd and
// MosquittoACL), each atomically, creating dir, and returns their paths.
func (l *Layout) WriteMosquitto(dir, ingestUser, ingestPassword string) (passwd, acl string, err error) {
	if ingestPassword == "" {
		return "", "", errors.New("the ingest needs a password (--ingest-password or HERD_BROKER_PASSWORD): the one the target's ingest logs in with")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	passwd, acl = filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	if err := atomicfile.Write(passwd, func(w io.Writer) error { return l.MosquittoPasswd(w, ingestUser, ingestPassword) }); err != nil {
		return "", "", err
	}
	return passwd, acl, atomicfile.Write(acl, func(w io.Writer) error { return MosquittoACL(w, ingestUser) })
}
