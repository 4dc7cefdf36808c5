package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
)

// TestTrainChecksTheDType: Train refuses an unknown dtype before anything is written, and a
// resumed run refuses a dtype other than its own.
func TestTrainChecksTheDType(t *testing.T) {
	opts := smallTrainOptions(t, filepath.Join(t.TempDir(), "no-data-needed"), 1)
	opts.Model.DType = "bf16"
	if _, err := Train(context.Background(), captest.Backend(t), opts); err == nil || !strings.Contains(err.Error(), `dtype "bf16"`) {
		t.Errorf("Train with dtype bf16: %v, want an error naming the dtype", err)
	}
	if _, err := os.Stat(opts.Out); err == nil {
		t.Errorf("%s was written before the dtype was checked", opts.Out)
	}

	saved, now := opts, opts
	saved.Model.DType, now.Model.DType = captioner.DTypeBFloat16, ""
	refused, _ := CompareOptions(saved, now)
	if len(refused) != 1 || refused[0] != `-dtype "" (the run: "bfloat16")` {
		t.Errorf("resuming a bfloat16 run in float32: refused %q, want the -dtype change refused", refused)
	}
}

// TestFeatureCacheKeyFollowsTheDType: features computed in bfloat16 are cached apart from the
// float32 ones (and say so in their metadata); float32 features keep the key they had before
// the dtype existed (nothing is added to it).
func TestFeatureCacheKeyFollowsTheDType(t *testing.T) {
	img := filepath.Join(t.TempDir(), "a.png")
	writePNG(t, img, 1)
	keys := map[string]string{}
	for _, dtype := range []string{"", captioner.DTypeFloat32, captioner.DTypeBFloat16} {
		cfg := captioner.DefaultConfig("tiny")
		cfg.DType = dtype
		m, err := captioner.NewEncoderModel(captest.Backend(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if keys[dtype], err = featureCacheKey(m, []string{img}, ""); err != nil {
			t.Fatal(err)
		}
		want := "" // float32 features are described as before
		if dtype == captioner.DTypeBFloat16 {
			want = captioner.DTypeBFloat16
		}
		if got := m.FeatureMeta()["dtype"]; got != want {
			t.Errorf("dtype %q: features metadata dtype %q, want %q", dtype, got, want)
		}
	}
	if keys[""] != keys[captioner.DTypeFloat32] || keys[""] == keys[captioner.DTypeBFloat16] {
		t.Errorf("cache keys: default %s, float32 %s, bfloat16 %s; want float32 = default ≠ bfloat16", keys[""], keys[captioner.DTypeFloat32], keys[captioner.DTypeBFloat16])
	}
}
