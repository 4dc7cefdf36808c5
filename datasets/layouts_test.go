package datasets

import (
	"errors"
	"image/color"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// karpathyFixture writes a Karpathy split file named name in dir, listing a.jpg (train) and
// b.jpg (test) under filepath sub, and those images under imageDir/sub.
func karpathyFixture(t *testing.T, dir, name, dataset, imageDir, sub string) string {
	for _, n := range []string{"a.jpg", "b.jpg"} {
		writeJPEG(t, filepath.Join(dir, imageDir, sub, n), 4, 4, color.RGBA{1, 2, 3, 255})
	}
	path := filepath.Join(dir, name)
	writeFile(t, path, `{"dataset": "`+dataset+`", "images": [
		{"filepath": "`+sub+`", "filename": "a.jpg", "split": "train", "sentences": [{"raw": "A dog."}]},
		{"filepath": "`+sub+`", "filename": "b.jpg", "split": "test", "sentences": [{"raw": "A cat."}]}]}`)
	return path
}

// cocoFixture writes captions_val2014.json under annDir of dir (string ids) and its images
// under dir/val2014.
func cocoFixture(t *testing.T, dir, annDir string) string {
	writeJPEG(t, filepath.Join(dir, "val2014", "x.jpg"), 4, 4, color.RGBA{5, 5, 5, 255})
	writeJPEG(t, filepath.Join(dir, "val2014", "y.jpg"), 4, 4, color.RGBA{5, 5, 5, 255})
	path := filepath.Join(dir, annDir, "captions_val2014.json")
	writeFile(t, path, `{"images": [{"id": "x_01", "file_name": "x.jpg"}, {"id": "y_02", "file_name": "y.jpg"}],
		"annotations": [{"id": 1, "image_id": "x_01", "caption": "An x."}, {"id": 2, "image_id": "y_02", "caption": "A y."},
		{"id": 3, "image_id": "x_01", "caption": "Another x."}]}`)
	return path
}

// kaggleFixture writes captions.txt and Images/ in dir.
func kaggleFixture(t *testing.T, dir string) string {
	for _, n := range []string{"p.jpg", "q.jpg"} {
		writeJPEG(t, filepath.Join(dir, "Images", n), 4, 4, color.RGBA{9, 9, 9, 255})
	}
	path := filepath.Join(dir, "captions.txt")
	writeFile(t, path, "image,caption\np.jpg,A p\nq.jpg,A q\n")
	return path
}

func examples(t *testing.T, path string) []Example {
	t.Helper()
	d, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Examples
}

func TestFolderAndFileLoadTheSameExamples(t *testing.T) {
	type pair struct{ name, folder, file string }
	var pairs []pair
	add := func(name, folder, file string) { pairs = append(pairs, pair{name, folder, file}) }

	dir := t.TempDir()
	add("karpathy flickr30k", dir, karpathyFixture(t, dir, "dataset_flickr30k.json", "flickr30k", "flickr30k-images", ""))
	dir = t.TempDir()
	add("karpathy flickr30k, Kaggle's folder name", dir, karpathyFixture(t, dir, "dataset_flickr30k.json", "flickr30k", "flickr30k_images", ""))
	dir = t.TempDir()
	add("karpathy flickr8k", dir, karpathyFixture(t, dir, "dataset_flickr8k.json", "flickr8k", "Flicker8k_Dataset", ""))
	dir = t.TempDir()
	add("karpathy coco", dir, karpathyFixture(t, dir, "dataset_coco.json", "coco", ".", "val2014"))
	dir = t.TempDir()
	add("coco at the top", dir, cocoFixture(t, dir, "."))
	dir = t.TempDir()
	add("coco under annotations/", dir, cocoFixture(t, dir, "annotations"))
	dir = t.TempDir()
	add("kaggle", dir, kaggleFixture(t, dir))
	dir = flickr8kFixture(t, "Flicker8k_Dataset", ".")
	add("flickr8k", dir, filepath.Join(dir, flickr8kTokenFile))
	dir = flickr8kFixture(t, "Images", "Flickr8k_text")
	add("flickr8k with Flickr8k_text/", dir, filepath.Join(dir, "Flickr8k_text", flickr8kTokenFile))

	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			folder, file := examples(t, p.folder), examples(t, p.file)
			if len(folder) < 2 || !reflect.DeepEqual(folder, file) {
				t.Fatalf("folder %s gave\n%v\nfile %s gave\n%v", p.folder, folder, p.file, file)
			}
			for _, e := range folder {
				if !fileExists(e.Image) {
					t.Fatalf("image %s is not on disk", e.Image)
				}
			}
		})
	}
}

func TestLoadCOCOReadsStringIDs(t *testing.T) {
	got := examples(t, cocoFixture(t, t.TempDir(), "annotations"))
	var caps []string
	for _, e := range got {
		caps = append(caps, filepath.Base(e.Image)+":"+strings.Join(e.Captions, "|"))
	}
	if want := []string{"x.jpg:An x.|Another x.", "y.jpg:A y."}; !reflect.DeepEqual(caps, want) {
		t.Fatalf("got %q, want %q", caps, want)
	}
}

func TestMissingImagesSayWhereTheLoaderLookedAndWhatToDo(t *testing.T) {
	// A Flickr30k split file whose images are elsewhere: the loader looked in the file's folder.
	dir := t.TempDir()
	path := filepath.Join(dir, "dataset_flickr30k.json")
	writeFile(t, path, `{"dataset": "flickr30k", "images": [{"filename": "a.jpg", "split": "train", "sentences": [{"raw": "A dog."}]}]}`)
	want := "karpathy " + path + ": 1 listed images are missing from " + dir + " (the JSON file's own folder, as none of " +
		"Flicker8k_Dataset/, Flickr8k_Dataset/, Images/, flickr30k-images/ or flickr30k_images/ is in it) (first: a.jpg); " +
		"pass the image folder with -images DIR, or -allow-missing to drop them"
	for _, p := range []string{dir, path} {
		_, err := Load(p, LoadOptions{})
		var missing *MissingImagesError
		if !errors.As(err, &missing) || err.Error() != want {
			t.Fatalf("Load(%s): %v\nwant %s", p, err, want)
		}
	}
	// -images names the folder; one that does not exist is refused as such.
	if _, err := Load(dir, LoadOptions{Images: filepath.Join(dir, "nope")}); err == nil || err.Error() != "-images "+filepath.Join(dir, "nope")+": no such folder" {
		t.Fatalf("err = %v", err)
	}
	writeJPEG(t, filepath.Join(dir, "elsewhere", "a.jpg"), 4, 4, color.RGBA{1, 1, 1, 255})
	if d, err := Load(dir, LoadOptions{Images: filepath.Join(dir, "elsewhere")}); err != nil || len(d.Examples) != 1 {
		t.Fatalf("with -images: %v", err)
	}

	// Flickr8k's images can be downloaded: the message says how.
	f8 := flickr8kFixture(t, "Flicker8k_Dataset", ".", "b.jpg")
	_, err := Load(f8, LoadOptions{})
	want = "flickr8k " + f8 + ": 1 listed images are missing from " + filepath.Join(f8, "Flicker8k_Dataset") + " (first: b.jpg); " +
		"download them (go run ./scripts/download -dataset flickr8k -dir " + f8 + "), pass the image folder with -images DIR, or -allow-missing to drop them"
	if err == nil || err.Error() != want {
		t.Fatalf("flickr8k: %v\nwant %s", err, want)
	}
	// So can a Karpathy flickr8k file's, into the folder beside it.
	k8 := t.TempDir()
	writeFile(t, filepath.Join(k8, "dataset_flickr8k.json"), `{"dataset": "flickr8k", "images": [{"filename": "a.jpg", "split": "train", "sentences": [{"raw": "A dog."}]}]}`)
	if _, err := Load(k8, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "download them (go run ./scripts/download -dataset flickr8k -dir "+k8+")") {
		t.Fatalf("karpathy flickr8k: %v", err)
	}

	// No image folder at all in a Flickr8k or Kaggle layout.
	os.RemoveAll(filepath.Join(f8, "Flicker8k_Dataset"))
	_, err = Load(f8, LoadOptions{})
	want = "flickr8k " + f8 + ": no image folder: looked for Flicker8k_Dataset/, Flickr8k_Dataset/ or Images/ in it; download the images " +
		"(go run ./scripts/download -dataset flickr8k -dir " + f8 + ") or pass the image folder with -images DIR"
	if err == nil || err.Error() != want {
		t.Fatalf("flickr8k without images: %v\nwant %s", err, want)
	}
	kg := t.TempDir()
	writeFile(t, filepath.Join(kg, "captions.txt"), "image,caption\np.jpg,A p\n")
	_, err = Load(kg, LoadOptions{})
	want = "kaggle captions " + filepath.Join(kg, "captions.txt") + ": no image folder beside it: looked for Images/, images/, Flicker8k_Dataset/, " +
		"Flickr8k_Dataset/ or flickr30k_images/; pass the image folder with -images DIR"
	if err == nil || err.Error() != want {
		t.Fatalf("kaggle without images: %v\nwant %s", err, want)
	}
	// A COCO file without its image folder.
	cc := t.TempDir()
	path = cocoFixture(t, cc, "annotations")
	os.RemoveAll(filepath.Join(cc, "val2014"))
	_, err = Load(cc, LoadOptions{})
	want = "coco annotations " + path + ": no image folder: looked for " + filepath.Join(cc, "annotations", "val2014") + "/ and " +
		filepath.Join(cc, "val2014") + "/; pass the image folder with -images DIR"
	if err == nil || err.Error() != want {
		t.Fatalf("coco without images: %v\nwant %s", err, want)
	}
}

func TestLoadFolderWithSeveralCOCOFilesAsksForOne(t *testing.T) {
	dir := t.TempDir()
	cocoFixture(t, dir, "annotations")
	writeFile(t, filepath.Join(dir, "annotations", "captions_train2014.json"), `{}`)
	_, err := Load(dir, LoadOptions{})
	want := "dataset " + dir + ": holds 2 COCO caption files (" + filepath.Join(dir, "annotations", "captions_train2014.json") + ", " +
		filepath.Join(dir, "annotations", "captions_val2014.json") + "), each one split; pass one of them as the dataset"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestLoadRefusesJSONThatIsNoDataset(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want string }{
		{"captions_val2014.json", `{"images": [{"id": 397133, "file_name": "a.jpg"}], "annotations": [{"id": 1, "image_id": 397133, "bbox": [1, 2, 3, 4], "category_id": 18}]}`,
			`annotations[0] (image_id 397133) has no "caption" (it has "bbox", "category_id", "id", "image_id"); is this an instances (object detection) file? use a captions_*.json file`},
		{"results.json", `[{"image_id": 1, "caption": "a"}]`, "a JSON list, as a COCO results file is; a dataset is " + datasetJSONShape},
		{"dataset_flickr8k.json", `{"images": [{"filename": "a.jpg", "sentences": "A dog."}]}`,
			`near byte offset 55 (line 1, column 56): "images.0.sentences" is a string, want a list`},
		{"dataset_coco.json", `{"images": [{"filename": "a.jpg",}]}`,
			`not valid JSON at byte offset 33 (line 1, column 34): invalid character '}' looking for beginning of object key string`},
		{"other.json", `{"info": {}}`, `a JSON object with neither "annotations" (COCO captions) nor "images" (Karpathy split); it has "info"; want ` + datasetJSONShape},
	} {
		path := filepath.Join(dir, c.name)
		writeFile(t, path, c.content)
		if _, err := Load(path, LoadOptions{}); err == nil || err.Error() != path+": "+c.want {
			t.Errorf("%s:\n got %v\nwant %s: %s", c.name, err, path, c.want)
		}
	}
	// The instances file is refused in its folder form too.
	inst := t.TempDir()
	writeFile(t, filepath.Join(inst, "annotations", "captions_val2014.json"), `{"images": [], "annotations": [{"image_id": 1, "bbox": []}]}`)
	if _, err := Load(inst, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "is this an instances (object detection) file?") {
		t.Errorf("folder form: %v", err)
	}
}
