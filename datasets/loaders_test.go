package datasets

import (
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeJPEG writes a small solid-colour JPEG.
func writeJPEG(t testing.TB, path string, w, h int, c color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flickr8kFixture writes a Flickr8k-layout folder: a.jpg, b.jpg in train, c.jpg in dev, d.jpg in
// test, e.jpg in no split; two captions each, plus one bogus key and malformed lines. Images
// listed in missing are not written.
func flickr8kFixture(t *testing.T, imageDir, textSub string, missing ...string) string {
	dir := t.TempDir()
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	for _, n := range []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"} {
		if !skip[n] {
			writeJPEG(t, filepath.Join(dir, imageDir, n), 8, 6, color.RGBA{200, 10, 10, 255})
		}
	}
	tokens := strings.Join([]string{
		"a.jpg#1\tA second caption for a .",
		"a.jpg#0\tA dog runs .",
		"b.jpg#0\tA dog sits",
		"b.jpg#1\tTwo dogs",
		"2258277193_586949ec62.jpg.1#0\tThe bogus key's caption",
		"c.jpg#0\tA cat",
		"c.jpg#1\tA cat again",
		"no tab in this line",
		"d.jpg#x\tbad caption number",
		"d.jpg#0\tA bird",
		"d.jpg#1\tA bird flies",
		"e.jpg#0\tNot in any split",
		"",
	}, "\n")
	text := filepath.Join(dir, textSub)
	writeFile(t, filepath.Join(text, flickr8kTokenFile), tokens)
	writeFile(t, filepath.Join(text, flickr8kTrainList), "a.jpg\nb.jpg\n")
	writeFile(t, filepath.Join(text, flickr8kDevList), "c.jpg\n")
	writeFile(t, filepath.Join(text, flickr8kTestList), "d.jpg\n\n")
	return dir
}

func TestLoadFlickr8kLayouts(t *testing.T) {
	for _, layout := range []struct{ imageDir, textSub string }{
		{"Flicker8k_Dataset", "."}, {"Flickr8k_Dataset", "."}, {"Images", "Flickr8k_text"},
	} {
		t.Run(layout.imageDir+"/"+layout.textSub, func(t *testing.T) {
			dir := flickr8kFixture(t, layout.imageDir, layout.textSub)
			d, err := Load(dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range d.Examples {
				got = append(got, string(e.Split)+":"+filepath.Base(e.Image)+":"+strings.Join(e.Captions, "|"))
			}
			want := []string{
				"train:a.jpg:A dog runs .|A second caption for a .", // caption-number order
				"train:b.jpg:A dog sits|Two dogs",
				"val:c.jpg:A cat|A cat again",
				"test:d.jpg:A bird|A bird flies",
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("examples:\n got %q\nwant %q", got, want)
			}
			warn := strings.Join(d.Warnings, "\n")
			for _, s := range []string{"skipped 3 malformed lines", "2258277193_586949ec62.jpg.1", "no tab", "line 9"} {
				if !strings.Contains(warn, s) {
					t.Errorf("warnings lack %q:\n%s", s, warn)
				}
			}
			if filepath.Base(filepath.Dir(d.Examples[0].Image)) != layout.imageDir {
				t.Errorf("image path %s not under %s", d.Examples[0].Image, layout.imageDir)
			}
		})
	}
}

func TestLoadFlickr8kMissingImages(t *testing.T) {
	dir := flickr8kFixture(t, "Flicker8k_Dataset", ".", "b.jpg", "d.jpg")
	_, err := Load(dir, LoadOptions{})
	var missing *MissingImagesError
	if !errors.As(err, &missing) {
		t.Fatalf("err = %v, want a MissingImagesError", err)
	}
	if !reflect.DeepEqual(missing.Missing, []string{"b.jpg", "d.jpg"}) {
		t.Fatalf("missing = %q", missing.Missing)
	}
	for _, s := range []string{"2 listed images are missing", "b.jpg", "-allow-missing"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	d, err := Load(dir, LoadOptions{AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Missing != 2 || len(d.Examples) != 2 {
		t.Fatalf("allow-missing kept %d examples, missing %d; want 2 and 2", len(d.Examples), d.Missing)
	}
	if im, caps := d.CountSplit(Test); im != 0 || caps != 0 {
		t.Fatalf("test split should be empty, has %d images", im)
	}
}

func TestLoadUnknownLayoutListsWhatWasLookedFor(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "readme.txt"), "hello")
	_, err := Load(dir, LoadOptions{})
	if err == nil {
		t.Fatal("no error for an unknown layout")
	}
	for _, s := range []string{"unknown layout", "Flickr8k.token.txt", "captions.txt", "dataset_flickr8k.json"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent"), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "shapes") {
		t.Errorf("missing dataset error should point to -data shapes: %v", err)
	}
}

func TestLoadKarpathyJSON(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	for _, n := range []string{"val2014/x.jpg", "y.jpg", "z.jpg", "w.jpg"} {
		writeJPEG(t, filepath.Join(imgs, n), 4, 4, color.RGBA{1, 2, 3, 255})
	}
	js := `{"dataset":"coco","images":[
	 {"filepath":"val2014","filename":"x.jpg","split":"restval","sentences":[{"raw":"An X."},{"raw":"Another X"}]},
	 {"filename":"y.jpg","split":"val","sentences":[{"raw":"A Y"}]},
	 {"filename":"z.jpg","split":"test","sentences":[{"raw":"A Z"}]},
	 {"filename":"w.jpg","split":"weird","sentences":[{"raw":"A W"}]},
	 {"filename":"v.jpg","split":"train","sentences":[]}]}`
	path := filepath.Join(dir, "dataset_coco.json")
	writeFile(t, path, js)
	d, err := Load(path, LoadOptions{Images: imgs})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.Examples {
		rel, _ := filepath.Rel(imgs, e.Image)
		got = append(got, string(e.Split)+":"+rel+":"+strings.Join(e.Captions, "|"))
	}
	want := []string{"train:val2014/x.jpg:An X.|Another X", "val:y.jpg:A Y", "test:z.jpg:A Z"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if w := strings.Join(d.Warnings, "\n"); !strings.Contains(w, `"weird"`) || !strings.Contains(w, "without captions") {
		t.Fatalf("warnings: %s", w)
	}
}

func TestLoadKaggleCaptionsCSV(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"p.jpg", "q.jpg", "r.jpg", "s.jpg", "t.jpg", "u.jpg", "v.jpg", "w.jpg"} {
		writeJPEG(t, filepath.Join(dir, "Images", n), 4, 4, color.RGBA{9, 9, 9, 255})
	}
	csv := "image,caption\n" +
		"p.jpg,A plain caption .\n" +
		"p.jpg,\"A caption, with a comma\"\n" +
		"q.jpg,\"She said \"\"hi\"\" to him\"\n" +
		"r.jpg,one,too,many\n" +
		"s.jpg,A\nt.jpg,B\nu.jpg,C\nv.jpg,D\nw.jpg,E\n"
	writeFile(t, filepath.Join(dir, "captions.txt"), csv)
	d, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Example{}
	for _, e := range d.Examples {
		byName[filepath.Base(e.Image)] = e
	}
	if got := byName["p.jpg"].Captions; !reflect.DeepEqual(got, []string{"A plain caption .", "A caption, with a comma"}) {
		t.Fatalf("p.jpg captions = %q", got)
	}
	if got := byName["q.jpg"].Captions; !reflect.DeepEqual(got, []string{`She said "hi" to him`}) {
		t.Fatalf("q.jpg captions = %q", got)
	}
	if _, ok := byName["r.jpg"]; ok {
		t.Fatal("malformed row r.jpg was kept")
	}
	// 7 images with captions, split by sorted name: 5 train (7*3/4), 0 val (7/8), 2 test.
	tr, _ := d.CountSplit(Train)
	va, _ := d.CountSplit(Val)
	te, _ := d.CountSplit(Test)
	if tr != 5 || va != 0 || te != 2 {
		t.Fatalf("split %d/%d/%d, want 5/0/2", tr, va, te)
	}
	w := strings.Join(d.Warnings, "\n")
	if !strings.Contains(w, "4 fields") || !strings.Contains(w, "no split lists") {
		t.Fatalf("warnings: %s", w)
	}
}

func TestLoadCOCOAnnotations(t *testing.T) {
	dir := t.TempDir()
	writeJPEG(t, filepath.Join(dir, "val2014", "COCO_val2014_1.jpg"), 4, 4, color.RGBA{5, 5, 5, 255})
	writeJPEG(t, filepath.Join(dir, "val2014", "COCO_val2014_2.jpg"), 4, 4, color.RGBA{5, 5, 5, 255})
	js := `{"images":[{"id":1,"file_name":"COCO_val2014_1.jpg"},{"id":2,"file_name":"COCO_val2014_2.jpg"},{"id":3,"file_name":"none.jpg"}],
	"annotations":[{"id":10,"image_id":1,"caption":"One"},{"id":11,"image_id":2,"caption":"Two"},{"id":12,"image_id":1,"caption":"Uno"},{"id":13,"image_id":99,"caption":"orphan"}]}`
	path := filepath.Join(dir, "annotations", "captions_val2014.json")
	writeFile(t, path, js)
	d, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Examples) != 2 || d.Examples[0].Split != Val || !reflect.DeepEqual(d.Examples[0].Captions, []string{"One", "Uno"}) {
		t.Fatalf("examples = %+v", d.Examples)
	}
	if w := strings.Join(d.Warnings, "\n"); !strings.Contains(w, "1 annotations with an unknown image id") || !strings.Contains(w, "1 images without captions") {
		t.Fatalf("warnings: %s", w)
	}
}

// sampleDir is the real Flickr8k text release with 168 of its images, beside the project.
const sampleDir = "../../shared/flickr8k-sample"

func TestRealFlickr8kSample(t *testing.T) {
	if _, err := os.Stat(sampleDir); err != nil {
		t.Skip("../shared/flickr8k-sample not present")
	}
	f, err := os.Open(filepath.Join(sampleDir, flickr8kTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	caps, issues, err := ParseTokenFile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The release: 40,460 lines over 8,092 keys, one of them the bogus 2258277193_586949ec62.jpg.1
	// with 5 captions; 8,091 real images with 5 captions each.
	total := 0
	for _, c := range caps {
		total += len(c)
	}
	if len(caps) != 8091 || total != 40455 || len(issues) != 5 {
		t.Fatalf("parsed %d images, %d captions, %d issues; want 8091, 40455, 5", len(caps), total, len(issues))
	}
	for _, is := range issues {
		if !strings.Contains(is.Reason, "2258277193_586949ec62.jpg.1") {
			t.Fatalf("unexpected issue %+v", is)
		}
	}
	if _, err := Load(sampleDir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("without -allow-missing: err = %v", err)
	}
	d, err := Load(sampleDir, LoadOptions{AllowMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    Split
		want int
	}{{Train, 134}, {Val, 20}, {Test, 13}} {
		if n, caps := d.CountSplit(c.s); n != c.want || caps != 5*c.want {
			t.Errorf("%s: %d images, %d captions; want %d, %d", c.s, n, caps, c.want, 5*c.want)
		}
	}
	if d.Missing != 8000-167 {
		t.Errorf("missing = %d, want %d", d.Missing, 8000-167)
	}
}
