package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/lubdub/lubdub/internal/wire"
)

// serialMedium carries classic frames (">>>" ... "<<<") over a tty, as
// Heartbeat's serial medium does.
type serialMedium struct {
	dev  string
	port serial.Port
	log  *slog.Logger
	done chan struct{}
	once sync.Once
	wmu  sync.Mutex
}

func openSerial(dev string, baud int, recv chan<- Packet, log *slog.Logger) (Medium, error) {
	if _, err := os.Stat(dev); err != nil {
		return nil, fmt.Errorf("serial: device %s does not exist", dev)
	}
	p, err := serial.Open(dev, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("serial: opening %s at %d baud: %w", dev, baud, err)
	}
	s := &serialMedium{dev: dev, port: p, log: log, done: make(chan struct{})}
	go s.read(recv)
	return s, nil
}

func (s *serialMedium) Link() string        { return s.dev }
func (s *serialMedium) Format() wire.Format { return wire.Classic }

func (s *serialMedium) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.port.Close()
}

func (s *serialMedium) Send(frame []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.port.Write(frame); err != nil {
		return fmt.Errorf("serial %s: writing: %w", s.dev, err)
	}
	return nil
}

func (s *serialMedium) read(recv chan<- Packet) {
	fr := NewFrameReader(s.port)
	for {
		frame, err := fr.Next()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, ErrFrameTooLarge) {
				s.log.Warn("serial frame too large, skipped", "link", s.dev)
				continue
			}
			s.log.Warn("reading serial line", "link", s.dev, "err", err)
			time.Sleep(time.Second)
			continue
		}
		select {
		case recv <- Packet{Link: s.dev, From: s.dev, Data: frame}:
		case <-s.done:
			return
		}
	}
}

// ErrFrameTooLarge is returned for a frame over wire.MaxMessageSize.
var ErrFrameTooLarge = errors.New("frame too large")

// FrameReader splits a byte stream into classic frames, skipping line
// noise between them.
type FrameReader struct {
	r *bufio.Reader
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 4096)}
}

// Next returns the next complete frame, ">>>\n" through "<<<\n".
func (f *FrameReader) Next() ([]byte, error) {
	var frame []byte
	in := false
	for {
		line, err := f.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// an overlong line is noise (or an oversized frame): skip it
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = f.r.ReadSlice('\n')
			}
			frame, in = nil, false
			if err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		switch {
		case bytes.Equal(line, []byte(">>>\n")):
			frame = append(frame[:0], line...)
			in = true
		case !in:
			// noise before a frame start
		case bytes.Equal(line, []byte("<<<\n")):
			frame = append(frame, line...)
			return frame, nil
		default:
			if len(frame)+len(line) > wire.MaxMessageSize {
				frame, in = nil, false
				return nil, ErrFrameTooLarge
			}
			frame = append(frame, line...)
		}
	}
}
