package train

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner"
)

// featureCacheOptions say where encoder features are cached and whether to recompute them.
type featureCacheOptions struct {
	Dir     string // "" : the user cache folder's attncap/features
	Rebuild bool   // recompute (and overwrite) even when an entry matches
	// EncoderFile is the file the encoder's weights were loaded from when it is not
	// Config.Weights (a -init model folder's variables), "" otherwise.
	EncoderFile string
}

// featureCacheKey identifies what encoder features depend on: the encoder and its settings
// (the compute dtype when it is bfloat16: float32 keys are those from before it existed), the
// weights file and every image, each file by its absolute path, size and modification time,
// so that replacing an image or the weights under the same name misses the cache. encoderFile,
// when not "", is the file the encoder's weights came from instead (train -init).
func featureCacheKey(m *captioner.Model, images []string, encoderFile string) (string, error) {
	h := sha256.New()
	meta := m.FeatureMeta()
	fmt.Fprintf(h, "%s|%s|%s|%s\n", meta["encoder"], meta["weights"], meta["image_size"], meta["grid_size"])
	for _, k := range []string{"dtype", "resize", "source"} { // in the key only when set, as before they existed
		if v, ok := meta[k]; ok {
			fmt.Fprintf(h, "%s|%s\n", k, v)
		}
	}
	if encoderFile != "" {
		if err := hashFileStamp(h, encoderFile); err != nil {
			return "", fmt.Errorf("feature cache: encoder weights %w", err)
		}
	}
	if m.Config.Weights != "" {
		path, err := m.WeightsFile()
		if err != nil {
			return "", err
		}
		if err := hashFileStamp(h, path); err != nil {
			return "", fmt.Errorf("feature cache: weights %w", err)
		}
	}
	for _, p := range images {
		if err := hashFileStamp(h, p); err != nil {
			return "", fmt.Errorf("feature cache: %w", err)
		}
	}
	return fmt.Sprintf("%s-%x", m.Config.Encoder, h.Sum(nil)[:12]), nil
}

// hashFileStamp writes a file's absolute path, size and modification time (ns) to h.
func hashFileStamp(h io.Writer, path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s|%d|%d\n", abs, info.Size(), info.ModTime().UnixNano())
	return nil
}

// cachedFeatures returns the encoder grids of images, computing them once: the cache file is
// named by featureCacheKey, and an entry is used only when it also lists the same images. The
// log says which entry is reused and how to rebuild it.
func cachedFeatures(m *captioner.Model, images []string, opts featureCacheOptions, progress io.Writer, logf func(string, ...any)) (*captioner.Features, error) {
	dir := opts.Dir
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("feature cache: %w (pass a cache folder)", err)
		}
		dir = filepath.Join(c, "attncap", "features")
	}
	key, err := featureCacheKey(m, images, opts.EncoderFile)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, key+".safetensors")
	if !opts.Rebuild {
		if f, err := captioner.LoadFeatures(path); err == nil && sameImages(f.Images, images) {
			logf("features: %d images from the cache %s (keyed by the encoder, its weights and each image's size and "+
				"modification time; -rebuild-features recomputes it)", len(images), path)
			return f, nil
		}
	}
	logf("features: encoding %d images once (cached in %s)", len(images), path)
	f, err := m.ExtractFeatures(images, 8, progress)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return f, f.Save(path)
}

func sameImages(a, b []string) bool {
	return len(a) == len(b) && strings.Join(a, "\x00") == strings.Join(b, "\x00")
}
